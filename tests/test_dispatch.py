"""
The host's indexed dispatcher calls exactly the observers, in exactly the
order, that xish's own EventDispatcher calls: every module's XPath relies
on it, and the index only skips queries that could not match.
"""

from twisted.words.xish import utility
from wokkel.generic import parseXml

from xmppd.dispatch import StanzaDispatcher

QUERIES = [
    ("/message", 0),
    ("/message/amp[@xmlns='http://jabber.org/protocol/amp']", 10),
    ("/presence", 0),
    ("/presence", 10),
    ("/iq[@type='get']/query[@xmlns='jabber:iq:roster']", 10),
    ("/iq[@type='set']/query[@xmlns='jabber:iq:roster']", 10),
    ("/iq[@type='get']/query[@xmlns='jabber:iq:version']", 0),
    ("/iq[@type=\"result\"]", 1),
    ("/iq[@type='get' or @type='set']", 0),
    ("/iq[@id='x1']", 0),
    ("/iq", -1),
    ("/*", -5),
    ("//body", 2),
    ("/message[@type='chat']/body", 0),
    ("/message[@type!='error']", 0),
    ("/iq/*", 3),
    ("/presence/x[@xmlns='vcard-temp:x:update']", 0),
    ("/message/body", 4),
    ("/message/body[@id='b']", 4),
    ("/message/thread/parent", 4),
    ("/iq[@type='set'][@id='x1']", 0),
]

STANZAS = [
    "<message to='a@h' type='chat'><body>hi</body></message>",
    "<message to='a@h'><amp xmlns='http://jabber.org/protocol/amp'/><body>x</body></message>",
    "<message to='a@h' type='error'/>",
    "<message to='a@h' type='made-up'/>",
    "<presence/>",
    "<presence type='unavailable'/>",
    "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
    "<iq type='set' id='x1'><query xmlns='jabber:iq:roster'/></iq>",
    "<iq type='get' id='2'><query xmlns='jabber:iq:version'/></iq>",
    "<iq type='result' id='3'/>",
    "<iq id='4'/>",
    "<made-up><body/></made-up>",
    "<presence>away<x xmlns='vcard-temp:x:update'/></presence>",
    "<presence><x xmlns='jabber:x:other'/></presence>",
    "<message>text<thread><parent/></thread><body id='b'/></message>",
    "<message><body xmlns='urn:not-client'/></message>",
]


def _calls(dispatcher):
    calls = []
    for query, priority in QUERIES:
        dispatcher.addObserver(
            query, lambda element, q=query, p=priority: calls.append((p, q, element.name)),
            priority)
    for xml in STANZAS:
        dispatcher.dispatch(parseXml(xml))
        calls.append(("end", xml))
    return calls


def test_indexed_dispatch_calls_what_xish_calls_in_the_same_order():
    expected = _calls(utility.EventDispatcher())
    assert _calls(StanzaDispatcher()) == expected
    # The comparison means something: every stanza met several observers.
    assert len(expected) > 3 * len(STANZAS)


def test_observers_changed_during_a_dispatch_apply_to_the_next_stanza():
    dispatcher = StanzaDispatcher()
    calls = []

    def late(element):
        calls.append("late")

    def first(element):
        calls.append("first")
        dispatcher.addObserver("/message", late, -1)
        dispatcher.removeObserver("/message", first)

    dispatcher.addObserver("/message", first)
    message = parseXml("<message to='a@h'/>")
    dispatcher.dispatch(message)
    assert calls == ["first"]
    dispatcher.dispatch(message)
    assert calls == ["first", "late"]


def test_a_onetime_observer_fires_once():
    dispatcher = StanzaDispatcher()
    calls = []
    dispatcher.addOnetimeObserver("/iq[@type='result']", calls.append)
    result = parseXml("<iq type='result' id='1'/>")
    assert dispatcher.dispatch(result)
    assert not dispatcher.dispatch(result)
    assert calls == [result]


def test_named_events_are_dispatched_as_xish_does():
    dispatcher = StanzaDispatcher()
    calls = []
    dispatcher.addObserver("//event/stream/authd", calls.append)
    dispatcher.dispatch("stream", "//event/stream/authd")
    assert calls == ["stream"]


def test_observer_arguments_and_failures_are_treated_as_xish_treats_them():
    def calls(dispatcher):
        seen = []

        def failing(element):
            seen.append("failing")
            raise ValueError("an observer's bug")

        dispatcher.addObserver("/message", failing, 5)
        # xish passes the observer's own arguments first, then the stanza.
        dispatcher.addObserver("/message", lambda tag, element, more=None: seen.append(
            (tag, element.name, more)), 0, "tag", more="kw")
        dispatcher.addObserver("/message", lambda element: seen.append("plain"), 0)
        dispatcher.dispatch(parseXml("<message to='a@h'/>"))
        return seen

    expected = calls(utility.EventDispatcher())
    assert calls(StanzaDispatcher()) == expected == ["failing", ("tag", "message", "kw"), "plain"]


def test_observers_joining_and_leaving_a_query_are_called_as_xish_calls_them():
    def calls(dispatcher):
        seen = []
        message = parseXml("<message to='a@h'/>")

        def one(element):
            seen.append("one")

        dispatcher.addObserver("/message", one)
        dispatcher.dispatch(message)
        dispatcher.addObserver("/message", lambda element: seen.append("two"))
        dispatcher.dispatch(message)
        dispatcher.addOnetimeObserver("/message", lambda element: seen.append("once"))
        dispatcher.dispatch(message)
        dispatcher.dispatch(message)
        dispatcher.removeObserver("/message", one)
        dispatcher.dispatch(message)
        return seen

    expected = calls(utility.EventDispatcher())
    assert calls(StanzaDispatcher()) == expected
    assert expected == ["one", "one", "two", "one", "two", "once", "one", "two", "two"]


def test_a_child_an_observer_adds_or_removes_is_seen_by_the_queries_after_it_as_xish_sees_it():
    def calls(dispatcher):
        seen = []

        def addsExtra(element):
            seen.append("adds")
            element.addElement(("urn:extra", "extra"))

        def removesQuery(element):
            seen.append("removes")
            element.children.remove(element.query)

        dispatcher.addObserver("/iq[@type='get']/query[@xmlns='jabber:iq:roster']", addsExtra, 10)
        dispatcher.addObserver("/iq/extra[@xmlns='urn:extra']", removesQuery, 5)
        dispatcher.addObserver("/iq/query", lambda element: seen.append("query"), 0)
        dispatcher.addObserver("/iq/extra", lambda element: seen.append("extra"), 0)
        dispatcher.dispatch(parseXml("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"))
        return seen

    expected = calls(utility.EventDispatcher())
    assert calls(StanzaDispatcher()) == expected == ["adds", "removes", "extra"]
