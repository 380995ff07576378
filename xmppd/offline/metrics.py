"""
Offline storage metrics (SPEC §7), after MongooseIM's ``write_messages`` and
``pop_messages`` histograms plus counters for every outcome, so an operator
can see bounces and drops by reason rather than only a total.
"""

from prometheus_client import Counter, Histogram


class OfflineMetrics:
    def __init__(self, registry):
        self.writeSeconds = Histogram(
            "xmppd_offline_write_seconds", "Time to store one offline message.",
            ["backend"], registry=registry)
        self.popSeconds = Histogram(
            "xmppd_offline_pop_seconds", "Time to fetch one batch of offline messages.",
            ["backend"], registry=registry)
        self.stored = Counter(
            "xmppd_offline_stored", "Offline messages stored.", registry=registry)
        self.delivered = Counter(
            "xmppd_offline_delivered", "Offline messages delivered.", registry=registry)
        self.bounced = Counter(
            "xmppd_offline_bounced", "Offline messages bounced to their sender.",
            ["reason"], registry=registry)
        self.dropped = Counter(
            "xmppd_offline_dropped", "Offline messages dropped silently.",
            ["reason"], registry=registry)
        self.expired = Counter(
            "xmppd_offline_expired", "Stored offline messages deleted unread by expiry.",
            registry=registry)


def metricsFor(host):
    """The server's OfflineMetrics: one set per registry, shared by its hosts."""
    return host.serverShared("offline/metrics", lambda: OfflineMetrics(host.metricsRegistry))
