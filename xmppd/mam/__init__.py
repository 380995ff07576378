"""
Message Archive Management (XEP-0313): ``handler`` is the ``mam`` module on
a host, ``archive`` decides and stamps what is archived, ``prefs`` and
``query`` read the user's preferences and queries, ``stanzaids`` the
XEP-0359 ids, ``ctl`` is ``xmppctl mam``.
"""
