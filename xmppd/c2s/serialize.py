"""
Serialising a stanza for a client stream, byte for byte as domish does,
in a fraction of its time for the stanzas that need no namespace prefix.

domish's serialiser is general (prefixes, prefix scopes, qualified
attributes) and builds its state anew for every stanza: an eighth of the
server's time routing live messages went to it. Almost every stanza a
server writes is an element tree in default namespaces (``jabber:client``
with payloads in their own ``xmlns``), attributes unqualified but for
``xml:lang``; for those, ``toXml`` writes the same text directly, and
for anything else (a prefixed element, a namespace declared by prefix, an
attribute of another namespace) it hands the whole stanza to domish.

What a client stream writes goes through ``toBytes``: a message that
another client sent, unchanged since it was parsed, is written from the
text it arrived in (with the server's ``from``) and not serialised at all.
"""

from twisted.words.xish.domish import SerializedXML, escapeToXml

NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_CLIENT = "jabber:client"


class _NeedsPrefixes(Exception):
    """The stanza needs domish's general serialiser."""


def toXml(element, defaultUri, prefixes):
    """
    ``element.toXml(prefixes=prefixes, defaultUri=defaultUri,
    prefixesInScope=list(prefixes.values()))``, as a stream writes a stanza.
    """
    out = []
    try:
        _write(element, defaultUri, prefixes, out)
    except _NeedsPrefixes:
        return element.toXml(prefixes=prefixes, defaultUri=defaultUri,
                             prefixesInScope=list(prefixes.values()))
    return "".join(out)


def toBytes(element, defaultUri, prefixes):
    """
    ``toXml`` encoded, for a client stream; for a message another client
    sent, the text it arrived in while it is as parsed.

    A routed message was otherwise parsed into elements only to be written
    out again the same: a sixth of the server's work routing live messages
    went to writing it. The client stream's parser keeps a message's text
    (``_keptText``, see ``HardenedElementStream._onEndElement``) when it
    means the same on any client stream: no prefix used or declared in it but
    the stream's own, no attribute of a namespace other than xml's. It is
    written from that text while the stanza has the attributes and the
    children it was parsed with, save a ``from`` that the server stamped
    (RFC 6120 §8.1.2.1), which goes right after the stanza's name; a change
    below it made through domish's methods forgets the text
    (``ParsedElement``).
    """
    fields = element.__dict__
    kept = fields.get("_keptText")
    if kept is not None and defaultUri == NS_CLIENT:
        opening, text, attributes, children, count = kept
        # The children list the parser made, as long as it was: every
        # change made to it through domish's methods forgets the text too.
        if (fields["children"] is children and len(children) == count
                and fields["uri"] == NS_CLIENT and fields["defaultUri"] == NS_CLIENT):
            now = fields["attributes"]
            if opening is None:
                # The client wrote the ``from`` that it has.
                if now == attributes:
                    return text
            else:
                sender = now.get("from")
                # The kept attributes are this stanza's own to change.
                attributes["from"] = sender
                if now == attributes:
                    stamp = _stamps.get(sender)
                    if stamp is None:
                        stamp = _stamp(sender)
                    if stamp is not None:
                        return opening + stamp + text
    return toXml(element, defaultUri, prefixes).encode("utf-8")


# A sender's `` from='…'`` as bytes: the same few full JIDs, stanza after
# stanza. At most this many are kept; past it the attribute is made each time.
MAX_STAMPS = 4096
_stamps = {}


def _stamp(sender):
    if type(sender) is not str:
        return None
    if "&" in sender or "<" in sender or ">" in sender or "'" in sender or '"' in sender:
        stamp = (" from='%s'" % escapeToXml(sender, 1)).encode("utf-8")
    else:
        stamp = (" from='%s'" % sender).encode("utf-8")
    if len(_stamps) < MAX_STAMPS:
        _stamps[sender] = stamp
    return stamp


def _write(element, inherited, prefixes, out):
    # The pieces go onto ``out`` one formatted string each, joined once at
    # the end; escaping is only paid for by the values that
    # need it: most attribute values (JIDs, types, ids) and texts have
    # nothing to escape, which one look at all of an element's values
    # together tells. The element's fields are read from its __dict__:
    # domish.Element's __getattr__ makes every attribute read of an
    # element take CPython's slow path, six of them per element here.
    fields = element.__dict__
    try:
        localPrefixes = fields["localPrefixes"]
        default = fields["defaultUri"]
        uri = fields["uri"]
        name = fields["name"]
        attributes = fields["attributes"]
        children = fields["children"]
    except KeyError:
        # A subclass that keeps one of them elsewhere.
        localPrefixes, default, uri = element.localPrefixes, element.defaultUri, element.uri
        name, attributes, children = element.name, element.attributes, element.children
    if localPrefixes:
        raise _NeedsPrefixes()
    if default is None:
        default = inherited
    if uri is None:
        uri = default
    if uri != default or uri in prefixes or uri == NS_XML:
        # domish would write it with a prefix.
        raise _NeedsPrefixes()
    if default != inherited:
        out.append(f"<{name} xmlns='{default}'")
    else:
        out.append("<" + name)
    if attributes:
        values = "".join(attributes.values())
        plain = not ("&" in values or "<" in values or ">" in values or "'" in values
                     or '"' in values)
        for key, value in attributes.items():
            if not plain and ("&" in value or "<" in value or ">" in value or "'" in value
                              or '"' in value):
                value = escapeToXml(value, 1)
            if type(key) is tuple:
                if key[0] != NS_XML:
                    raise _NeedsPrefixes()
                # The xml prefix is always in scope (domish's G_PREFIXES).
                out.append(f" xml:{key[1]}='{value}'")
            else:
                out.append(f" {key}='{value}'")
    if not children:
        out.append("/>")
        return
    if len(children) == 1 and type(children[0]) is str:
        # A leaf with one text (a body, a status).
        text = children[0]
        if "&" in text or "<" in text or ">" in text:
            text = escapeToXml(text)
        out.append(f">{text}</{name}>")
        return
    out.append(">")
    for child in children:
        # The class asked, not the child: isinstance(element, str) reads
        # the element's __class__, a slow read on a domish Element.
        if issubclass(type(child), str):
            if isinstance(child, SerializedXML):
                out.append(child)
            elif "&" in child or "<" in child or ">" in child:
                out.append(escapeToXml(child))
            else:
                out.append(child)
        else:
            _write(child, default, prefixes, out)
    out.append(f"</{name}>")
