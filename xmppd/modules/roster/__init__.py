"""
Rosters and presence subscriptions (RFC 6121 §2–3, XEP-0237).

- ``items``: the roster IQ — get (versioned), set, remove — and the roster
  pushes every change sends to the account's interested resources; it also
  answers presence's ``presence/contacts`` question.
- ``subscriptions``: the subscription state machine, outbound (what the
  account sends) and inbound (what is sent to it), with pre-approval and
  the requests kept for an account that is offline.
"""

from xmppd.modules.roster.items import RosterHandler
from xmppd.modules.roster.subscriptions import SubscriptionHandler


def handlersFor(host, options):
    roster = RosterHandler(host, options)
    return [roster, SubscriptionHandler(host, roster)]
