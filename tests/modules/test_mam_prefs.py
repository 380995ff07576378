"""The archiving preferences a host keeps in memory follow the account's lifetime."""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.words.protocols.jabber.jid import JID

from xmppd.mam.prefs import Prefs, PrefsRegistry


class FakeMamStore:
    def setPrefs(self, owner, default, always, never):
        return defer.succeed(None)


def test_a_deleted_accounts_preferences_are_forgotten():
    host = SimpleNamespace(domain="localhost", storage=SimpleNamespace(mam=FakeMamStore()))
    prefs = PrefsRegistry(host, "always")
    prefs.set("alice@localhost", Prefs("never"))
    assert not prefs.allows("alice@localhost", JID("bob@localhost"))
    prefs.forget("alice@localhost")
    # A new account of that name starts from the server's default.
    assert prefs.allows("alice@localhost", JID("bob@localhost"))
