"""
Last Activity (XEP-0012): the store of each account's last logout
(``store``) and its table (``schema/``); the handler is
``xmppd.modules.lastactivity``.
"""
