"""
One Prometheus registry per server, and its optional HTTP listener
(``[metrics] enabled/listen``).

Each server gets its own CollectorRegistry rather than the process-wide
default: several servers run in one test process, and prometheus-client
refuses to register a metric name twice in one registry.
"""


def registryFor(server):
    """The server's CollectorRegistry, created on first use."""
    registry = getattr(server, "metricsRegistry", None)
    if registry is None:
        from prometheus_client import CollectorRegistry
        registry = server.metricsRegistry = CollectorRegistry()
    return registry


def metricsService(server, listen):
    """A TCPServer serving ``/metrics`` of the server's registry on HOST:PORT."""
    from prometheus_client.twisted import MetricsResource
    from twisted.application import internet
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from xmppd.config.values import parseHostPort

    interface, port = parseHostPort(listen)
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry=registryFor(server)))
    return internet.TCPServer(port, Site(root), interface=interface)
