"""
vcard-temp (XEP-0054): the vCards' store (``store``) and table
(``schema/``); the handler is ``xmppd.modules.vcard``.
"""
