"""
Private XML Storage (XEP-0049): the store (``store``) and its table
(``schema/``); the handler is ``xmppd.modules.private``.
"""
