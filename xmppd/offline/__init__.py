"""
Offline messages (XEP-0160; SPEC §1–§5, §7): what is stored for a user who
is not online, and how it reaches them later.

- ``store``: the queue in SQL (tables in ``schema/``), what a limit means,
  and ``memory``, the same queue in Python objects;
- ``matchers``: the ``store_paths`` element-path matchers;
- ``policy``: the offline decision, rule by rule;
- ``service``: the host's IOfflineService -- decide, commit;
- ``delivery``: the pop when a resource comes online;
- ``expiry``: the periodic sweep;
- ``metrics``: the Prometheus series;
- ``handler``: the ``offline`` and ``offline_stub`` modules that wire these
  to a host, and ``msgoffline``: the IQ users set their own limit with;
- ``ctl``: ``xmppctl offline``.
"""
