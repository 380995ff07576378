"""Advanced Message Processing (XEP-0079): ``rules`` (pure) and ``handler`` (the module)."""
