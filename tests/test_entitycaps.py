"""
The one XEP-0115 hash (``xmppd.entitycaps``) against the XEP's own worked
examples (§5.2, §5.3), the §5.4 refusals, and the server's side: a
``<query/>`` built from Wokkel's disco items hashes as its XML does.
"""

import xmppd.compat  # noqa: F401  (Wokkel on current Twisted)

from twisted.words.xish import domish
from wokkel import data_form, disco

from xmppd.entitycaps import capsOf, capsVer, infoQuery

NS_INFO = disco.NS_DISCO_INFO
SIMPLE_FEATURES = ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
                   "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"]


def query(identities=(), features=(), forms=()):
    element = domish.Element((NS_INFO, "query"))
    for category, kind, lang, name in identities:
        identity = element.addElement("identity")
        identity.attributes.update({"category": category, "type": kind, "name": name})
        if lang:
            identity[("http://www.w3.org/XML/1998/namespace", "lang")] = lang
    for feature in features:
        element.addElement("feature")["var"] = feature
    for form in forms:
        element.addChild(form)
    return element


def softwareInfo():
    return data_form.Form("result", formNamespace="urn:xmpp:dataforms:softwareinfo", fields=[
        data_form.Field("text-multi", var="ip_version", values=["ipv4", "ipv6"]),
        data_form.Field(var="os", values=["Mac"]),
        data_form.Field(var="os_version", values=["10.5.1"]),
        data_form.Field(var="software", values=["Psi"]),
        data_form.Field(var="software_version", values=["0.11"]),
    ]).toElement()


def test_simple_example_of_section_5_2():
    assert capsVer(query([("client", "pc", "", "Exodus 0.9.1")], SIMPLE_FEATURES)) == \
        "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_complex_example_of_section_5_3_with_languages_and_a_form():
    answer = query([("client", "pc", "en", "Psi 0.11"), ("client", "pc", "el", "Ψ 0.11")],
                   SIMPLE_FEATURES, [softwareInfo()])
    assert capsVer(answer) == "q07IKJEyjvHSyhy//CH0CxmKi8w="


def test_duplicate_features_or_form_types_have_no_ver():
    assert capsVer(query([("client", "pc", "", "x")], ["a", "a"])) is None
    assert capsVer(query([("client", "pc", "", "x")], ["a"],
                         [softwareInfo(), softwareInfo()])) is None
    assert capsVer(query([("client", "pc", "", "x")], ["a"]), "sha-3-unknown") is None


def test_wokkel_items_hash_as_the_query_they_are_answered_with():
    items = [disco.DiscoIdentity("client", "pc", "Exodus 0.9.1")]
    items += [disco.DiscoFeature(f) for f in reversed(SIMPLE_FEATURES)]
    assert capsVer(infoQuery(items)) == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_caps_of_a_presence():
    presence = domish.Element((None, "presence"))
    assert capsOf(presence) is None
    c = presence.addElement(("http://jabber.org/protocol/caps", "c"))
    c.attributes.update({"hash": "sha-1", "node": "https://gajim.org", "ver": "abc="})
    assert capsOf(presence) == ("sha-1", "https://gajim.org", "abc=")
