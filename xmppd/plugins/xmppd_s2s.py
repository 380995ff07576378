"""Federation: server-to-server streams (RFC 6120, XEP-0220 dialback)."""

from xmppd.api import Module, Option, Schema, normaliseDomain, parseHostPort


def _checkRoutes(routes):
    for domain, target in routes.items():
        try:
            normaliseDomain(domain)
        except ValueError:
            return "expected domain names as keys; %r is not one" % (domain,)
        try:
            parseHostPort(target)
        except ValueError:
            return 'expected "HOST:PORT" values; %s = %r is not one' % (domain, target)
    return None


def servicesFor(server, options):
    # The s2s transport is part of the core, like c2s: the one import of a
    # plugin file past xmppd.api (see [tool.importlinter] in pyproject.toml).
    from xmppd.s2s.service import S2SService
    return [S2SService(server, options)]


s2sModule = Module(
    "s2s", lambda host, options: [],
    Schema([
        Option("interface", "str", "0.0.0.0", "IP address the s2s listener binds to."),
        Option("port", "int", 5269, "Port for incoming s2s streams (0 = any free port).",
               minimum=0, maximum=65535),
        Option("routes", "table-of-str", {},
               'Static routes: { "example.net" = "HOST:PORT" }; other domains by DNS SRV.',
               check=_checkRoutes),
        Option("require_encryption", "bool", True,
               "Refuse s2s streams, in and out, that do not negotiate STARTTLS."),
        Option("require_certificate", "bool", True,
               "Remote domains must prove themselves by certificate; false = dialback also."),
        Option("ca_file", "str", "",
               "PEM file of the CAs peer certificates must chain to; empty = the system's."),
        Option("connect_timeout", "duration", "15s",
               "Longest wait for an outgoing stream before its stanzas bounce.",
               minimum="1s"),
        Option("auth_timeout", "duration", "30s",
               "An incoming stream not authenticated this long after it opened is closed.",
               minimum="1s"),
        Option("idle_timeout", "duration", "10m",
               "An outgoing stream that sent nothing this long is closed.", minimum="1s"),
        Option("max_queued_stanzas", "int", 1000,
               "Stanzas that may wait for one remote domain's stream; more bounce.",
               minimum=1),
        Option("max_connections", "int", 1000,
               "Most incoming s2s connections at once.", minimum=1),
        Option("max_connections_per_domain", "int", 4,
               "Most authenticated incoming streams from one remote domain.", minimum=1),
        Option("stanza_size_limit", "size", "512KiB",
               "Largest stanza a remote server may send; a larger one closes the stream.",
               minimum="1KiB"),
    ]),
    enabledByDefault=False,
    servicesFor=servicesFor,
    description="Federation with other XMPP domains (server-to-server, XEP-0220 dialback)")
