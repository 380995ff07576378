"""What clients ask for at login: carbons (XEP-0280), CSI (XEP-0352), blocking (XEP-0191), ad-hoc commands (XEP-0050)."""

from xmppd.api import Module, Option, Schema
from xmppd.blocking.store import BlocklistStore
from xmppd.modules import adhoc, blocking, carbons, csi

carbonsModule = Module(
    "carbons", carbons.handlersFor,
    description="Message Carbons (XEP-0280): every resource sees the conversation")
csiModule = Module(
    "csi", csi.handlersFor,
    description="Client State Indication (XEP-0352): presence and chat states wait"
                " while a client is inactive")
blockingModule = Module(
    "blocking", blocking.handlersFor,
    Schema([Option("max_items", "int", 1000,
                   "Most JIDs one user may block.", minimum=1)]),
    description="Blocking Command (XEP-0191)",
    stores={"blocklist": BlocklistStore},
    tables="xmppd.blocking")
adhocModule = Module(
    "adhoc", adhoc.handlersFor,
    description="Ad-hoc commands (XEP-0050) with XEP-0133 user counts for server.admins")
