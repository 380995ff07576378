"""The ``amp`` module: Advanced Message Processing (XEP-0079), on by default."""

from xmppd.api import Module

from xmppd.amp.handler import handlersFor

ampModule = Module(
    "amp", handlersFor,
    description="Advanced Message Processing (XEP-0079); works with offline storage off")
