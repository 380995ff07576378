"""
``IDigest``: what the ``digest`` module offers the other modules.

A module that wants it declares ``depends=("digest",)`` and asks its host
for it, ``host.service(IDigest)``; it never imports the digest's classes.
"""

from collections import namedtuple

from zope.interface import Interface

# One line of a digest: a sender's bare JID, how many of its messages were
# stored, and when the last one was (µs since the epoch).
Sender = namedtuple("Sender", "jid messages lastStored")


class IDigest(Interface):
    """
    Per-sender counts of the messages stored offline for an account since
    its digest was last taken. Both methods run in the account's lane, so
    they see every message routed to it before they were called.
    """

    def senders(account):
        """Fire the account's digest: a list of ``Sender``, most messages first."""

    def take(account):
        """As ``senders``, and empty the digest in the same transaction."""
