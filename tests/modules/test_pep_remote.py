"""
PEP's record of remote contacts' resources (``xmppd.pep.remote``): per
account, bounded, and a full JID forgotten only once no account holds it.
"""

from xmppd.pep.remote import RemoteResources

CAPS = ("sha-1", "https://gajim.org", "ver1=")
NEWER = ("sha-1", "https://gajim.org", "ver2=")


def test_a_resource_is_kept_per_account_until_the_last_account_loses_it():
    remote = RemoteResources()
    assert remote.available("alice@a", "bob@b/phone", CAPS) == (None, [])
    assert remote.available("carol@a", "bob@b/phone", NEWER) == (None, [])
    assert remote.available("alice@a", "bob@b/phone", NEWER) == (CAPS, [])
    assert remote.resourcesOf("alice@a", "bob@b") == ["bob@b/phone"]
    assert remote.capsOf("bob@b/phone") == NEWER
    assert remote.unavailable("alice@a", "bob@b/phone") is False
    assert remote.resourcesOf("alice@a", "bob@b") == []
    assert remote.capsFor("carol@a", "bob@b/phone") == NEWER
    assert remote.unavailable("carol@a", "bob@b/phone") is True
    assert remote.capsOf("bob@b/phone") is None
    assert remote.unavailable("carol@a", "bob@b/phone") is False


def test_an_account_keeps_at_most_limit_resources_the_oldest_news_dropped_first():
    remote = RemoteResources(limit=2)
    remote.available("alice@a", "bob@b/1", CAPS)
    remote.available("alice@a", "bob@b/2", CAPS)
    remote.available("alice@a", "bob@b/1", NEWER)  # news of 1: 2 is now the oldest
    assert remote.available("alice@a", "mallory@m/3", CAPS) == (None, ["bob@b/2"])
    assert remote.resourcesOf("alice@a", "bob@b") == ["bob@b/1"]
    assert remote.resourcesOf("alice@a", "mallory@m") == ["mallory@m/3"]
