"""Message archives (XEP-0313) and flexible offline retrieval (XEP-0013)."""

from xmppd.api import Module, Option, Schema
from xmppd.mam import handler as mam
from xmppd.modules import flexible_offline
from xmppd.mam.queue import ArchiveQueue
from xmppd.mam.store import MamStore

mamModule = Module(
    "mam", mam.handlersFor,
    Schema([
        Option("default", "str", "always",
               "What is archived for a user who set no preferences (XEP-0313 §6).",
               choices=["always", "never", "roster"]),
        Option("max_age", "duration", None,
               "Delete archived messages older than this (not set: keep)."),
        Option("retention_interval", "duration", "1h",
               "How often messages older than max_age are deleted.", minimum="1s"),
        Option("page_size", "int", 50,
               "Messages per page when a query gives no RSM <max/>.", minimum=1),
        Option("max_page_size", "int", 250,
               "Most messages per page, whatever <max/> asks for.", minimum=1),
        Option("rsm_count", "bool", False,
               "Put the RSM <count/> in every page, not only when asked with <max>0</max>."),
        Option("sync_replaces_offline", "bool", True,
               "A client that queries the archive before its initial presence is not sent"
               " the archived offline messages again."),
        Option("offline_in_archive", "bool", True,
               "Keep the offline queue with the archive: a message to an offline user is"
               " stored once, the queue referring to its archived copy."),
    ]),
    enabledByDefault=False,
    description="Message Archive Management (XEP-0313) with stanza ids (XEP-0359)",
    stores={"mam": MamStore, "mam_offline": ArchiveQueue},
    tables="xmppd.mam")

flexibleOfflineModule = Module(
    "flexible_offline", flexible_offline.handlersFor,
    description="Flexible Offline Message Retrieval (XEP-0013) over the offline queue")
