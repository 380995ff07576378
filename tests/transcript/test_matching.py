"""
The comparison of an expected stanza with a received one, without a
server: what is strict, what a placeholder matches, what a mismatch says.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.transcript.matching import (
    Mismatch, PlaceholderError, match, matches, serialize, show, substitute)
from tests.transcript.parser import WRAPPER

VARIABLES = {"alice's full JID": "alice@localhost/r1", "alice's JID": "alice@localhost"}


def expected(xml):
    """An element as a transcript block gives it (jabber:client, scansion: bound)."""
    [element] = ET.fromstring(WRAPPER + xml + "</transcript>")
    return element


def received(xml):
    """An element as the raw client parses it from the server's stream."""
    [element] = ET.fromstring("<stream xmlns='jabber:client'>" + xml + "</stream>")
    return element


def mismatch(want, got, variables=VARIABLES):
    with pytest.raises(Mismatch) as caught:
        match(expected(want), received(got), variables)
    return str(caught.value)


# What does not matter -----------------------------------------------------------------


def test_prefixes_and_where_a_namespace_is_declared_do_not_matter():
    want = "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>"
    got = ("<iq type='result' xmlns:r='jabber:iq:roster'><r:query><r:item jid='a@b'/>"
           "</r:query></iq>")
    assert match(expected(want), received(got), {}) == {}


def test_attribute_order_and_indentation_do_not_matter():
    want = """<message type="chat" to="bob@localhost" id="m1">
                  <body>  hello  </body>
              </message>"""
    got = "<message id='m1' to='bob@localhost' type='chat'><body>hello</body></message>"
    assert match(expected(want), received(got), {}) == {}


# What does ---------------------------------------------------------------------------------


def test_another_namespace_is_another_element():
    text = mismatch("<query xmlns='jabber:iq:roster'/>", "<query xmlns='jabber:iq:private'/>")
    assert text == ('at /query: expected element <query xmlns="jabber:iq:roster">,'
                    ' got <query xmlns="jabber:iq:private">')


def test_missing_and_unexpected_attributes_and_wrong_values_are_named():
    assert mismatch("<presence type='subscribe'/>", "<presence/>") == (
        'at /presence: attribute type="subscribe" is missing')
    assert mismatch("<presence/>", "<presence from='a@b' type='probe'/>") == (
        'at /presence: unexpected attribute from="a@b", type="probe"')
    assert mismatch("<presence type='subscribe'/>", "<presence type='subscribed'/>") == (
        'at /presence: attribute type: expected "subscribe", got "subscribed"')


def test_xml_lang_is_an_attribute_like_any_other():
    assert mismatch("<message/>", "<message xml:lang='en'/>") == (
        'at /message: unexpected attribute xml:lang="en"')
    assert matches(expected("<message xml:lang='en'/>"),
                   received("<message xml:lang='en'/>"), {}) == {}


def test_children_must_be_the_same_in_the_same_order():
    roster = "<query xmlns='jabber:iq:roster'><item jid='a@b'/><item jid='c@d'/></query>"
    assert mismatch(roster, "<query xmlns='jabber:iq:roster'><item jid='c@d'/>"
                            "<item jid='a@b'/></query>") == (
        'at /query/item[1]: attribute jid: expected "a@b", got "c@d"')
    assert mismatch("<message><body>hi</body></message>",
                    "<message><body>hi</body><delay xmlns='urn:xmpp:delay'/></message>") == (
        'at /message: expected children [body], got [body, delay xmlns="urn:xmpp:delay"]')
    assert mismatch("<message><body>hi</body></message>", "<message/>") == (
        "at /message: expected children [body], got []")


def test_text_must_agree_and_an_empty_expected_text_means_none():
    assert mismatch("<body>hi</body>", "<body>hello</body>") == (
        "at /body: text: expected 'hi', got 'hello'")
    assert mismatch("<body/>", "<body>hello</body>") == (
        "at /body: text: expected '', got 'hello'")


def test_the_path_names_the_first_difference_deep_inside():
    want = ("<iq><query xmlns='jabber:iq:roster'><item jid='a@b'><group>A</group></item>"
            "</query></iq>")
    got = ("<iq><query xmlns='jabber:iq:roster'><item jid='a@b'><group>B</group></item>"
           "</query></iq>")
    assert mismatch(want, got) == "at /iq/query/item/group: text: expected 'A', got 'B'"


# scansion:strict="false" ------------------------------------------------------------------


def test_lenient_element_accepts_further_attributes_children_and_text():
    want = "<presence scansion:strict='false' from='a@b/r'/>"
    got = ("<presence from='a@b/r' to='c@d'><priority>5</priority>"
           "<c xmlns='http://jabber.org/protocol/caps' ver='x'/></presence>")
    assert match(expected(want), received(got), {}) == {}


def test_lenient_element_still_needs_its_listed_children_in_their_order():
    want = "<message scansion:strict='false'><body>hi</body><thread>t</thread></message>"
    got = "<message><thread>t</thread><x xmlns='urn:x'/><body>hi</body></message>"
    assert mismatch(want, got) == (
        "at /message: no child matches <thread>t</thread> after the ones matched before it"
        " (children: [thread, x xmlns=\"urn:x\", body])")
    assert mismatch(want, "<message><body>hi</body></message>") == (
        "at /message: no child matches <thread>t</thread> after the ones matched before it"
        " (children: [body])")
    inOrder = "<message><body>hi</body><x xmlns='urn:x'/><thread>t</thread></message>"
    assert match(expected(want), received(inOrder), {}) == {}


def test_leniency_is_for_the_marked_element_only():
    want = "<message scansion:strict='false'><body>hi</body></message>"
    got = "<message id='x'><body xml:lang='en'>hi</body></message>"
    assert mismatch(want, got) == 'at /message/body: unexpected attribute xml:lang="en"'


def test_lenient_element_with_a_text_still_compares_it():
    want = "<body scansion:strict='false'>hi</body>"
    assert mismatch(want, "<body>hello</body>") == "at /body: text: expected 'hi', got 'hello'"


# Placeholders -----------------------------------------------------------------------------


def test_any_matches_every_value_but_not_a_missing_attribute():
    want = expected("<iq id='{scansion:any}'/>")
    assert match(want, received("<iq id=''/>"), {}) == {}
    assert match(want, received("<iq id='H_0'/>"), {}) == {}
    assert mismatch("<iq id='{scansion:any}'/>", "<iq/>") == (
        'at /iq: attribute id="{scansion:any}" is missing')


def test_any_in_part_of_a_value():
    want = expected("<presence from='alice@localhost/{scansion:any}'/>")
    assert match(want, received("<presence from='alice@localhost/4f2a'/>"), {}) == {}
    assert matches(want, received("<presence from='bob@localhost/4f2a'/>"), {}) is None


def test_any_as_name_remembers_the_value():
    want = expected("<iq id='{scansion:any as push}'><query xmlns='jabber:iq:roster'"
                    " ver='{scansion:any as version}'/></iq>")
    got = received("<iq id='H_3'><query xmlns='jabber:iq:roster' ver='7'/></iq>")
    assert match(want, got, {}) == {"push": "H_3", "version": "7"}


def test_a_remembered_value_is_usable_later_in_the_same_stanza():
    want = expected("<iq id='{scansion:any as push}'><x xmlns='urn:x' ref='${push}'/></iq>")
    assert match(want, received("<iq id='a'><x xmlns='urn:x' ref='a'/></iq>"), {}) == {
        "push": "a"}
    assert matches(want, received("<iq id='a'><x xmlns='urn:x' ref='b'/></iq>"), {}) is None


def test_stamp_is_utc_with_microseconds_and_nothing_looser():
    want = expected("<delay xmlns='urn:xmpp:delay' stamp='{scansion:stamp}'/>")
    stamp = "<delay xmlns='urn:xmpp:delay' stamp='%s'/>"
    assert match(want, received(stamp % "2024-05-01T12:00:00.123456Z"), {}) == {}
    for loose in ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123Z",
                  "2024-05-01T12:00:00.123456+00:00", "yesterday"):
        assert matches(want, received(stamp % loose), {}) is None, loose


def test_variables_are_filled_in_and_matched_literally():
    want = expected("<presence from='${alice&apos;s full JID}'/>")
    assert match(want, received("<presence from='alice@localhost/r1'/>"), VARIABLES) == {}
    # A JID's dot is a dot, not a regular expression's any character.
    assert matches(expected("<presence from='${x}'/>"), received("<presence from='aXb'/>"),
                   {"x": "a.b"}) is None


def test_an_unknown_variable_or_placeholder_is_an_error_not_a_mismatch():
    with pytest.raises(PlaceholderError, match=r"\$\{bob's full JID\} is not known here"):
        match(expected("<presence from=\"${bob's full JID}\"/>"),
              received("<presence from='x'/>"), VARIABLES)
    with pytest.raises(PlaceholderError, match="unknown placeholder"):
        match(expected("<iq id='{scansion:whatever}'/>"), received("<iq id='x'/>"), {})


def test_text_placeholders():
    assert match(expected("<body>{scansion:any}</body>"), received("<body>x</body>"), {}) == {}
    assert match(expected("<body>{scansion:any}</body>"), received("<body/>"), {}) == {}
    assert match(expected("<body>id {scansion:any as n}</body>"),
                 received("<body>id 42</body>"), {}) == {"n": "42"}


# What a client sends, and what a failure shows -----------------------------------------------


def test_serialize_drops_indentation_keeps_text_and_declares_namespaces_where_they_change():
    block = expected("""<iq type="set" id="s1">
                            <query xmlns="jabber:iq:roster">
                                <item jid="bob@localhost" name="Bob &amp; co"
                                    ><group> A </group></item>
                            </query>
                        </iq>""")
    assert serialize(block) == (
        '<iq type="set" id="s1"><query xmlns="jabber:iq:roster"><item jid="bob@localhost"'
        ' name="Bob &amp; co"><group> A </group></item></query></iq>')
    assert serialize(expected("<message xml:lang='en'><body>&lt;3</body></message>")) == (
        '<message xml:lang="en"><body>&lt;3</body></message>')


def test_substitute_fills_in_variables_and_refuses_patterns():
    assert substitute("${alice's JID}/x", VARIABLES) == "alice@localhost/x"
    with pytest.raises(PlaceholderError):
        substitute("{scansion:any}", VARIABLES)


def test_show_indents_one_element_a_line_with_namespaces_where_they_change():
    got = received("<message from='a@b'><body>hi</body>"
                   "<delay xmlns='urn:xmpp:delay' stamp='s'>Offline Storage</delay></message>")
    assert show(got) == (
        '    <message from="a@b">\n'
        '        <body>hi</body>\n'
        '        <delay xmlns="urn:xmpp:delay" stamp="s">Offline Storage</delay>\n'
        '    </message>\n')


def test_show_can_order_the_attributes_as_the_expected_element_lists_them():
    got = received("<iq to='a@b/r' id='x' type='result'><query xmlns='jabber:iq:roster'"
                   " ver='2' xmlns:x='urn:x'/></iq>")
    like = expected("<iq type='result' id='x'><query xmlns='jabber:iq:roster'/></iq>")
    assert show(got, like=like) == (
        '    <iq type="result" id="x" to="a@b/r">\n'
        '        <query xmlns="jabber:iq:roster" ver="2"/>\n'
        '    </iq>\n')
