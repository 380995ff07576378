"""Rosters and presence subscriptions (RFC 6121 §2–3), found like any plugin."""

from xmppd.api import Module, Option, Schema
from xmppd.modules import roster

rosterModule = Module(
    "roster", roster.handlersFor,
    Schema([
        Option("max_roster_size", "int", 1000,
               "Most items in one roster; adding one more is not-allowed", minimum=1),
        Option("max_name_length", "int", 1024,
               "Longest item name, in characters; a longer one is not-acceptable",
               minimum=1),
        Option("max_group_length", "int", 256,
               "Longest group name, in characters; a longer one is not-acceptable",
               minimum=1),
        Option("max_groups_per_item", "int", 16,
               "Most groups one roster item may be in; more is not-acceptable",
               minimum=1),
    ]),
    description="Rosters and presence subscriptions (RFC 6121 §2-3, XEP-0237)")
