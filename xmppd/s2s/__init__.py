"""
Federation (RFC 6120 server-to-server streams), the ``s2s`` module.

- ``service``: the router's default route out, one stream per domain pair,
  bounded queues and bounces; the listener; the status ``xmppctl s2s`` shows.
- ``incoming`` / ``outgoing``: the two ends of a stream: STARTTLS, SASL
  EXTERNAL, XEP-0220 dialback, and the ``from``/``to`` checks.
- ``tls``: per-domain contexts with ALPN ``xmpp-server`` and the check that
  a peer's certificate proves its domain.
"""
