"""Personal Eventing Protocol (XEP-0163): every account a pubsub service, on by default."""

from xmppd.api import Module, Option, Schema
from xmppd.pep import handlersFor
from xmppd.pep.store import PepStore

pepModule = Module(
    "pep", handlersFor,
    Schema([
        Option("max_items_per_node", "int", 256,
               "Most items one node keeps; what pubsub#max_items = max means", minimum=1),
        Option("max_nodes", "int", 128,
               "Most nodes one account may have; one more is not-allowed", minimum=1),
        Option("max_item_size", "size", "128KiB",
               "Largest item payload; a larger one is not-acceptable (payload-too-big)",
               minimum="1KiB"),
        Option("caps_cache_size", "int", 1000,
               "Verified client capabilities (XEP-0115) kept, least recently used dropped",
               minimum=1),
        Option("default_access_model", "str", "presence",
               "Access model of a node created without one",
               choices=["presence", "open", "whitelist"]),
    ]),
    description="Personal Eventing Protocol (XEP-0163): OMEMO, avatars, nicknames, bookmarks",
    stores={"pep": PepStore},
    tables="xmppd.pep")
