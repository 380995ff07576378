"""Offline messages (XEP-0160), the stub that drops them, and the msgoffline IQ."""

from xmppd.api import IOfflineService, Module, Option, Schema
from xmppd.offline import handler, msgoffline
from xmppd.offline.matchers import checkStorePaths
from xmppd.offline.store import openOfflineStore

offlineModule = Module(
    "offline", handler.handlersFor, provides=[IOfflineService],
    schema=Schema([
        Option("store_paths", "list-of-str", [],
               "Path matchers deciding storage before the type and content rules.",
               check=checkStorePaths),
        Option("store_groupchat_messages", "bool", False,
               "Store groupchat messages (MUC-light-style rooms)."),
        Option("pair_limit", "int", 100,
               "Most stored messages per (recipient, sender) pair.", minimum=0),
        Option("access_max_user_messages", "str", "max_user_offline_messages",
               "Name of the [access] rule capping a user's whole queue."),
        Option("max_user_bytes", "size", "32MiB",
               "Most bytes of stored messages per user, all senders together (0 = no limit)."),
        Option("user_limits", "bool", False,
               "Let users set their own pair limit with the msgoffline IQ."),
        Option("quota_exceeded", "str", "error",
               "Over a limit: bounce an error or drop silently.",
               choices=["error", "drop"]),
        Option("delivery_batch", "int", 100,
               "Offline messages sent per batch when a user comes online.", minimum=1),
        Option("delivery_window", "int", 4,
               "Parts a delivery batch is sent in, each acknowledged on its own.",
               minimum=1, maximum=16),
        Option("expire_interval", "duration", "60s",
               "How often expired messages are deleted.", minimum="1s"),
        Option("max_age", "duration", None,
               "Delete stored messages older than this (not set: keep)."),
    ]),
    description="Offline message storage (XEP-0160)",
    stores={"offline": openOfflineStore},
    tables="xmppd.offline")

# The stub provides IOfflineService too (enabled False), but only while
# offline storage is off: with both enabled it steps aside, so it cannot
# declare what it provides.
offlineStubModule = Module(
    "offline_stub", handler.stubHandlersFor, enabledByDefault=False,
    description="Drop offline messages silently while offline storage is off")

msgofflineModule = Module(
    "msgoffline", msgoffline.handlersFor,
    description="The msgoffline IQ: users read and set their own offline limit")
