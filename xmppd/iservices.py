"""
The interfaces of the services built-in modules offer each other through
``host.provide`` / ``host.service`` (see xmppd.services). They are part of
the module API: a third-party module may provide or use them too.
"""

from zope.interface import Attribute, Interface


class IOfflineService(Interface):
    """
    Offline storage's decision and commit, asked by whoever takes a
    ``message/offline`` event first (AMP asks before acting, XEP-0079 §3.3.1)
    and by the modules that read or trim the queue (msgoffline, XEP-0013,
    MAM's login sync). Provided by ``offline`` while storage is on, and by
    ``offline_stub`` (``enabled`` False) while it is off.
    """

    enabled = Attribute("True if messages are stored; False for the stub.")
    options = Attribute("The offline module's validated options.")
    store = Attribute("The IOfflineStore of the queue (None for the stub).")

    def now():
        """The service's clock, in microseconds since the epoch."""

    def decide(offlineMessage, quotaAhead=False):
        """Fire the Decision for a message no resource can take (nothing written)."""

    def commit(offlineMessage, decision):
        """Carry the decision out (store, drop or bounce); fire its reason."""

    def pairLimitFor(recipient):
        """Fire the per-pair limit that applies to ``recipient`` (None: no limit)."""

    def stopFlood(session):
        """
        The client of ``session`` retrieves its offline messages itself
        (XEP-0013 §2.4): none are sent to it at its initial presence.
        """
