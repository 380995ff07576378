"""
The fast ASCII paths of xmppd.jidprep against Twisted's stringprep
profiles: the same prepared strings, and an error exactly where Twisted
raises one.
"""

import random

import pytest
from twisted.words.protocols.jabber import jid as twistedJID
from twisted.words.protocols.jabber.xmpp_stringprep import nameprep, nodeprep, resourceprep

from xmppd import jidprep

ASCII = [chr(c) for c in range(128)]


def outcome(prepare, text):
    try:
        return ("ok", prepare(text))
    except UnicodeError:
        return ("error", None)


@pytest.mark.parametrize("fast, profile", [
    (jidprep.nodeprepared, nodeprep.prepare),
    (jidprep.resourceprepared, resourceprep.prepare),
], ids=["nodeprep", "resourceprep"])
def test_every_ascii_character_prepares_as_twisted_does(fast, profile):
    for c in ASCII:
        for text in (c, "a" + c, c + "Z9", "Ab" + c + "cD"):
            assert outcome(fast, text) == outcome(profile, text), repr(text)


@pytest.mark.parametrize("fast, profile", [
    (jidprep.nodeprepared, nodeprep.prepare),
    (jidprep.resourceprepared, resourceprep.prepare),
], ids=["nodeprep", "resourceprep"])
def test_random_strings_prepare_as_twisted_does(fast, profile):
    rng = random.Random(7622)
    alphabet = ASCII + ["\u00c9", "\u00df", "\u0130", "\u00ad", "\u200b", "\u3000",
                        "\u05d0", "\ufb01", "\u2163", "\U0001f600"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert outcome(fast, text) == outcome(profile, text), repr(text)


def test_ascii_names_take_the_fast_path():
    """Typical localparts and resources are decided without the tables."""
    assert jidprep.nodeprepared("Alice.Smith_99") == "alice.smith_99"
    assert jidprep.resourceprepared("Conversations.Xk3f laptop") == "Conversations.Xk3f laptop"
    with pytest.raises(UnicodeError):
        jidprep.nodeprepared("al ice")
    with pytest.raises(UnicodeError):
        jidprep.resourceprepared("tab\there")


def test_domains_prepare_as_twisted_does():
    for domain in ("Example.ORG", "localhost", "xn--bcher-kva.example", "b\u00fccher.example",
                   "-bad.example", "bad-.example", "ex ample.org", "example.org."):
        assert outcome(jidprep.domainprepared, domain) == outcome(nameprep.prepare, domain)


@pytest.mark.parametrize("address", ["a@a..b", "a@.b", "a@.", "a..b/r"])
def test_a_domain_with_an_empty_label_is_an_invalid_address(address):
    """Twisted's nameprep fails on these with an IndexError."""
    with pytest.raises(twistedJID.InvalidFormat):
        twistedJID.JID(address)


def test_whole_addresses_prepare_as_twisted_does():
    cases = [("Alice", "Example.org", "Phone"), (None, "example.org", None),
             ("a\u00c9", "example.org", "r\u00e9s"), ("bad@", "example.org", None),
             ("alice", "", "r"), ("alice", "example.org", "ctl\x01"),
             ("alice", "exa mple.org", None), ("", "example.org", "")]
    for parts in cases:
        assert (preparedOrInvalid(jidprep._prep, parts)
                == preparedOrInvalid(jidprep.TWISTED_PREP, parts)), parts


def preparedOrInvalid(prep, parts):
    try:
        return ("ok", prep(*parts))
    except twistedJID.InvalidFormat as e:
        return ("invalid", str(e))
