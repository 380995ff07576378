"""Stream management (XEP-0198): acknowledgements and resumption for flaky networks."""

from xmppd.api import Module, Option, Schema
from xmppd.modules import stream_management

streamManagementModule = Module(
    "stream_management", stream_management.handlersFor,
    Schema([
        Option("resume_timeout", "duration", "300s",
               "How long a session whose connection was lost waits for the client"
               " to resume it; then its unacknowledged messages go to another"
               " resource or to offline storage.", minimum="1s"),
        Option("max_unacked", "int", 10000,
               "Most stanzas a session keeps unacknowledged; a client that lets"
               " more pile up is disconnected (and its messages re-routed).",
               minimum=10),
    ]),
    description="Stream management (XEP-0198): acks and resumption")
