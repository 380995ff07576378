"""
While-you-were-away digests: two modules in one distribution, each using
only ``xmppd.api``.

``digest`` hooks ``OFFLINE_STORED`` (so it needs the built-in ``offline``
module), keeps a per-sender count for each recipient in a table of its own,
and provides the ``IDigest`` service; ``xmppctl digest`` reads and resets
it. ``digest_notice`` depends on ``digest``: at login it takes the digest
through the service and sends the user one line about it.
"""

from xmppd.api import Module, Option, Schema

from xmppd_digest.digest import Digest
from xmppd_digest.interfaces import IDigest
from xmppd_digest.notice import DigestNotice
from xmppd_digest.store import DigestStore

digestModule = Module(
    "digest",
    lambda host, options: [Digest(host)],
    enabledByDefault=False,
    description="Per-sender counts of the messages stored offline for each user",
    depends=("offline",),
    provides=(IDigest,),
    stores={"digest": DigestStore},
    tables="xmppd_digest",
)

digestNoticeModule = Module(
    "digest_notice",
    lambda host, options: [DigestNotice(host, options)],
    Schema([
        Option("max_senders", "int", 3,
               "Senders the notice names; the others are summed up in one count",
               minimum=1),
    ]),
    enabledByDefault=False,
    description="A one-line summary of what waited for a user, sent at login",
    depends=("digest",),
)

__all__ = ["IDigest", "digestModule", "digestNoticeModule"]
