"""
Stream features as a client sees them at each step (RFC 6120 §4.3.2),
written from the host's cache of their text: a feature a module adds later,
or one a module computes once everything is up, reaches the next stream.
"""

import xml.etree.ElementTree as ET

from twisted.words.xish import domish

from tests.aio import asyncioTest
from tests.rawclient import NS_BIND, NS_SASL, NS_STREAMS, NS_TLS, RawClient, q

NS_TEST = "urn:xmppd:test:late-feature"


def children(features):
    return [child.tag for child in features]


@asyncioTest
async def test_features_at_each_step_of_a_login(xmpp):
    alice = await RawClient.connect(xmpp.port)
    first = await alice.open()
    assert q(NS_TLS, "starttls") in children(first)
    assert first.find(q(NS_SASL, "mechanisms")) is None
    await alice.starttls()
    assert alice.features.find(q(NS_TLS, "starttls")) is None
    assert "SCRAM-SHA-256-PLUS" in alice.mechanisms()
    await alice.authenticate("alice", "secret-alice")
    bound = await alice.open()
    assert q(NS_BIND, "bind") in children(bound)
    assert bound.find(q(NS_SASL, "mechanisms")) is None

    bob = await RawClient.connect(xmpp.port)
    again = await bob.open()
    assert ET.tostring(again) == ET.tostring(first)
    for client in (alice, bob):
        await client.close()


@asyncioTest
async def test_a_feature_added_later_is_offered_to_the_next_stream(xmpp):
    alice = await RawClient.connect(xmpp.port)
    await alice.login("alice", "secret-alice", "before")
    assert alice.features.find(q(NS_TEST, "late")) is None

    xmpp.host().addStreamFeature(domish.Element((NS_TEST, "late")), "bound")
    bob = await RawClient.connect(xmpp.port)
    await bob.login("bob", "secret-bob", "after")
    assert bob.features.find(q(NS_TEST, "late")) is not None
    for client in (alice, bob):
        await client.close()


@asyncioTest
async def test_a_computed_feature_is_asked_again_until_it_answers(xmpp):
    answers = [None, None]

    def late():
        return answers.pop(0) if answers else domish.Element((NS_TEST, "computed"))

    xmpp.host().addStreamFeature(late, "pre-auth")
    seen = []
    for _ in range(4):
        client = await RawClient.connect(xmpp.port)
        await client.open()
        await client.starttls()
        seen.append(client.features.find(q(NS_TEST, "computed")) is not None)
        await client.close()
    assert seen == [False, False, True, True]
