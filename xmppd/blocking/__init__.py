"""
Blocking Command (XEP-0191): the blocklists' store (``store``) and tables
(``schema/``); the handler is ``xmppd.modules.blocking``.
"""
