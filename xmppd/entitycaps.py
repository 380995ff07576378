"""
Entity Capabilities (XEP-0115): what a ``<c/>`` says, and the ``ver`` that
a disco#info answer hashes to.

One implementation for both sides of the protocol: the server's own caps
in its stream features (``modules/caps``), and the clients' caps that PEP
checks before it believes their ``+notify`` features (``pep/caps``). Both
hash a disco#info ``<query/>`` element, so what is hashed is what goes on
the wire.
"""

import base64
import hashlib

from twisted.words.xish import domish
from wokkel import disco

NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO_INFO = disco.NS_DISCO_INFO
NS_X_DATA = "jabber:x:data"
XML_LANG = ("http://www.w3.org/XML/1998/namespace", "lang")
# The IANA names of §5.1's hash functions, as hashlib knows them.
HASHES = {"sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256",
          "sha-384": "sha384", "sha-512": "sha512", "md5": "md5"}


def capsOf(presence):
    """``(hash or None, node, ver)`` of a presence's ``<c/>``, or None."""
    if presence is None:
        return None
    for child in presence.elements(NS_CAPS, "c"):
        node, ver = child.getAttribute("node"), child.getAttribute("ver")
        if node and ver:
            return child.getAttribute("hash"), node, ver
    return None


def capsElement(node, ver, hashName="sha-1"):
    c = domish.Element((NS_CAPS, "c"))
    c["hash"] = hashName
    c["node"] = node
    c["ver"] = ver
    return c


def infoQuery(info):
    """The disco#info ``<query/>`` that Wokkel answers with for ``info``'s items."""
    answer = disco.DiscoInfo()
    for item in info:
        answer.append(item)
    return answer.toElement()


def verificationString(query):
    """
    §5.1's string over a disco#info ``<query/>``, or None when §5.4 step 3
    rejects it (duplicate identities or features, a bad FORM_TYPE).
    """
    identities = []
    features = []
    forms = []
    for child in query.elements():
        if child.uri == NS_DISCO_INFO and child.name == "identity":
            identities.append((child.getAttribute("category", ""),
                               child.getAttribute("type", ""),
                               child.getAttribute(XML_LANG, ""),
                               child.getAttribute("name", "")))
        elif child.uri == NS_DISCO_INFO and child.name == "feature":
            features.append(child.getAttribute("var", ""))
        elif child.uri == NS_X_DATA and child.name == "x":
            form = _extendedForm(child)
            if form is False:
                return None
            if form is not None:
                forms.append(form)
    if len(set(identities)) != len(identities) or len(set(features)) != len(features):
        return None
    formTypes = [formType for formType, _ in forms]
    if len(set(formTypes)) != len(formTypes):
        return None
    parts = ["%s/%s/%s/%s<" % identity for identity in sorted(identities)]
    parts += ["%s<" % feature for feature in sorted(features)]
    for formType, fields in sorted(forms):
        parts.append("%s<" % formType)
        for var, values in sorted(fields):
            parts.append("%s<" % var)
            parts += ["%s<" % value for value in sorted(values)]
    return "".join(parts)


def _extendedForm(x):
    """(FORM_TYPE, [(var, values)]) of a result form; None to skip it; False if invalid."""
    if x.getAttribute("type") != "result":
        return None
    formType = None
    fields = []
    for field in x.elements(NS_X_DATA, "field"):
        var = field.getAttribute("var")
        values = [str(v) for v in field.elements(NS_X_DATA, "value")]
        if var == "FORM_TYPE":
            if formType is not None or len(values) != 1 or field.getAttribute("type") != "hidden":
                return False
            formType = values[0]
        elif var is not None:
            fields.append((var, values))
    # §5.4 3.6: a form without FORM_TYPE is ignored.
    return None if formType is None else (formType, fields)


def capsVer(query, hashName="sha-1"):
    """The ``ver`` of a disco#info ``<query/>``, or None if it cannot have one."""
    algorithm = HASHES.get(hashName)
    string = verificationString(query)
    if algorithm is None or string is None:
        return None
    digest = hashlib.new(algorithm, string.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")
