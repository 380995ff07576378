"""
Does a received stanza match the one the transcript expects?

Both sides are ElementTree elements with namespace-qualified names
(``{namespace}local``), so which prefix was used, and where a namespace was
declared, never matters; neither does the order of attributes. By default
the comparison is strict, because a transcript states the exact stanza that
crosses the wire:

- the element's namespace and local name must agree;
- its attributes: the same names, each value matching the expected one. An
  attribute the transcript does not list is a mismatch, so a server that
  starts sending ``ask="subscribe"`` on a settled roster item fails;
- its text, less leading and trailing whitespace (the transcript's
  indentation is layout, not content);
- its child elements: as many, in the same order, each matching by these
  same rules (RFC 6120 §8.3 puts an error last; order is part of the stanza).

An expected element marked ``scansion:strict="false"`` lists only what
matters to the test: the received element may carry further attributes and
further children, the listed children must appear among the received ones
in the listed order (each taken by the first received child that matches),
and its text is compared only if the transcript gives one. The leniency is
that element's alone: the children it lists are strict unless marked too.

Placeholders stand for what a transcript cannot know in advance, in an
attribute value or a text, whole or in part
(``from="bob@localhost/{scansion:any}"``):

``{scansion:any}``
    any value (an attribute must still be present)
``{scansion:any as NAME}``
    any value, remembered as ``${NAME}`` for the steps that follow, e.g. a
    roster push's id, to answer that push
``{scansion:stamp}``
    a UTC time stamp as xmppd writes it: XEP-0082 with microseconds,
    ``2024-05-01T12:00:00.123456Z`` (SPEC §2), nothing looser
``${NAME}``
    a value the runner knows: ``${alice's full JID}`` (as bound),
    ``${alice's JID}`` (bare) for a declared client, or a remembered NAME.
"""

import re
from xml.sax.saxutils import escape, quoteattr

NS_CLIENT = "jabber:client"
NS_XML = "http://www.w3.org/XML/1998/namespace"
# What the prefix ``scansion:`` means in every block of a transcript.
NS_TRANSCRIPT = "urn:xmppd:transcript"
STRICT = "{%s}strict" % NS_TRANSCRIPT
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}|\{scansion:([^{}]*)\}")
CAPTURE = re.compile(r"any as ([A-Za-z_][A-Za-z0-9_-]*)")
NAME = re.compile(r"[^{}$]+")


class PlaceholderError(ValueError):
    """A placeholder that means nothing, or a variable not known yet."""


class Mismatch(AssertionError):
    """Where the received stanza first differs from the expected one, and how."""

    def __init__(self, path, reason):
        AssertionError.__init__(self, "at %s: %s" % (path, reason))
        self.path = path
        self.reason = reason


# Placeholders ------------------------------------------------------------------


def placeholders(value):
    """
    ``value`` as a list of (kind, argument): ("text", literal), ("variable",
    NAME), ("any", None), ("capture", NAME) or ("stamp", None).
    """
    parts = []
    position = 0
    for found in PLACEHOLDER.finditer(value):
        if found.start() > position:
            parts.append(("text", value[position:found.start()]))
        variable, directive = found.groups()
        if variable is not None:
            if not NAME.fullmatch(variable):
                raise PlaceholderError("empty or malformed variable %r" % found.group())
            parts.append(("variable", variable))
        elif directive == "any":
            parts.append(("any", None))
        elif directive == "stamp":
            parts.append(("stamp", None))
        elif CAPTURE.fullmatch(directive):
            parts.append(("capture", CAPTURE.fullmatch(directive).group(1)))
        else:
            raise PlaceholderError(
                "unknown placeholder %r (known: {scansion:any}, {scansion:any as NAME},"
                " {scansion:stamp})" % found.group())
        position = found.end()
    if position < len(value):
        parts.append(("text", value[position:]))
    return parts


def _lookup(name, variables):
    try:
        return variables[name]
    except KeyError:
        raise PlaceholderError("${%s} is not known here (known: %s)" % (
            name, ", ".join("${%s}" % known for known in sorted(variables)) or "none"))


def substitute(value, variables):
    """``value`` with its ``${NAME}`` replaced: what a client sends."""
    out = []
    for kind, argument in placeholders(value):
        if kind == "text":
            out.append(argument)
        elif kind == "variable":
            out.append(_lookup(argument, variables))
        else:
            raise PlaceholderError("{scansion:...} matches what is received; a client"
                                   " sends no pattern")
    return "".join(out)


def filledIn(element, variables, forSending=True):
    """
    A copy of ``element`` with each ``${NAME}`` replaced by its value. For
    sending, a pattern or an unknown variable is an error; for a failure
    message (``forSending=False``) they stay as written.
    """
    def fill(value):
        if not value:
            return value
        if forSending:
            return substitute(value, variables)
        return PLACEHOLDER.sub(lambda found: variables.get(found.group(1), found.group())
                               if found.group(1) is not None else found.group(), value)

    copy = element.makeelement(element.tag, {
        name: fill(value) for name, value in element.attrib.items()})
    copy.text = fill(element.text)
    copy.tail = element.tail
    copy.extend(filledIn(child, variables, forSending) for child in element)
    return copy


class Pattern:
    """An expected value: its regular expression and the names it remembers."""

    def __init__(self, value, variables):
        self.source = value
        self.captures = {}
        regex = []
        for kind, argument in placeholders(value):
            if kind == "text":
                regex.append(re.escape(argument))
            elif kind == "variable":
                regex.append(re.escape(_lookup(argument, variables)))
            elif kind == "any":
                regex.append(".*")
            elif kind == "stamp":
                regex.append(STAMP)
            else:
                group = "capture%d" % len(self.captures)
                self.captures[group] = argument
                regex.append("(?P<%s>.*)" % group)
        self.regex = re.compile("".join(regex), re.DOTALL)

    def match(self, value):
        """The remembered values if ``value`` matches, else None."""
        found = self.regex.fullmatch(value)
        if found is None:
            return None
        return {name: found.group(group) for group, name in self.captures.items()}


# Matching ---------------------------------------------------------------------------


def match(expected, received, variables):
    """
    Return what ``expected`` remembered (``{scansion:any as NAME}``) if
    ``received`` matches it; raise ``Mismatch`` naming the first difference.
    """
    captured = {}
    _match(expected, received, variables, captured, "/" + localName(expected.tag))
    return captured


def matches(expected, received, variables):
    """``match`` as a question: the remembered values, or None."""
    try:
        return match(expected, received, variables)
    except Mismatch:
        return None


def _match(expected, received, variables, captured, path):
    if expected.tag != received.tag:
        raise Mismatch(path, "expected element %s, got %s" % (
            clark(expected.tag), clark(received.tag)))
    strict = expected.get(STRICT, "true") != "false"
    known = dict(variables, **captured)
    for name, value in expected.attrib.items():
        if name == STRICT:
            continue
        if name not in received.attrib:
            raise Mismatch(path, "attribute %s=%s is missing" % (
                attributeName(name), quoteattr(value)))
        remembered = Pattern(value, known).match(received.get(name))
        if remembered is None:
            raise Mismatch(path, "attribute %s: expected %s, got %s" % (
                attributeName(name), quoteattr(value), quoteattr(received.get(name))))
        captured.update(remembered)
        known.update(remembered)
    if strict:
        extra = [name for name in received.attrib if name not in expected.attrib]
        if extra:
            raise Mismatch(path, "unexpected attribute %s" % ", ".join(
                "%s=%s" % (attributeName(name), quoteattr(received.get(name)))
                for name in extra))
    expectedText = directText(expected)
    if strict or expectedText:
        remembered = Pattern(expectedText, known).match(directText(received))
        if remembered is None:
            raise Mismatch(path, "text: expected %r, got %r" % (
                expectedText, directText(received)))
        captured.update(remembered)
    expectedChildren, receivedChildren = list(expected), list(received)
    if strict:
        if len(expectedChildren) != len(receivedChildren):
            raise Mismatch(path, "expected children [%s], got [%s]" % (
                childNames(expected), childNames(received)))
        for index, (want, got) in enumerate(zip(expectedChildren, receivedChildren)):
            _match(want, got, variables, captured, path + "/" + stepName(expected, index))
        return
    position = 0
    for index, want in enumerate(expectedChildren):
        # The first received child of the same name tells best why none matched.
        sameName = None
        for offset, got in enumerate(receivedChildren[position:]):
            trial = dict(captured)
            try:
                _match(want, got, variables, trial, path + "/" + stepName(expected, index))
            except Mismatch as mismatch:
                if sameName is None and got.tag == want.tag:
                    sameName = mismatch
                continue
            captured.update(trial)
            position += offset + 1
            break
        else:
            if sameName is not None:
                raise sameName
            raise Mismatch(path, "no child matches %s%s (children: [%s])" % (
                show(want).strip(), " after the ones matched before it" if position else "",
                childNames(received)))


def directText(element):
    """The element's own text (not its children's), without the layout around it."""
    return ((element.text or "") + "".join(child.tail or "" for child in element)).strip()


def localName(tag):
    return tag.rsplit("}", 1)[-1]


def namespace(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def clark(tag):
    return "<%s xmlns=%s>" % (localName(tag), quoteattr(namespace(tag)))


def attributeName(name):
    if name.startswith("{%s}" % NS_XML):
        return "xml:" + localName(name)
    if name.startswith("{%s}" % NS_TRANSCRIPT):
        return "scansion:" + localName(name)
    return name


def stepName(parent, index):
    """A child's step in a mismatch path: ``item``, or ``item[2]`` among several."""
    tag = parent[index].tag
    same = [child for child in parent if child.tag == tag]
    if len(same) == 1:
        return localName(tag)
    return "%s[%d]" % (localName(tag), same.index(parent[index]) + 1)


def childNames(element, children=None):
    children = list(element) if children is None else children
    return ", ".join(
        localName(child.tag) if namespace(child.tag) == namespace(element.tag)
        else "%s xmlns=%s" % (localName(child.tag), quoteattr(namespace(child.tag)))
        for child in children)


# Writing elements -------------------------------------------------------------------


def serialize(element, parentNamespace=NS_CLIENT):
    """
    ``element`` as one line of XML for a client to send: each namespace
    declared where it changes (stanzas stay unprefixed in jabber:client, as
    servers expect), attributes in the order written, text as written, and
    the whitespace that only indented child elements dropped.
    """
    ns = namespace(element.tag)
    attributes = ""
    if ns != parentNamespace:
        attributes += " xmlns=%s" % quoteattr(ns)
    for name, value in element.attrib.items():
        if name.startswith("{") and not name.startswith("{%s}" % NS_XML):
            raise ValueError("cannot send the attribute %s" % name)
        attributes += " %s=%s" % (attributeName(name), quoteattr(value))
    children = list(element)
    text = element.text or ""
    if children and not text.strip():
        text = ""
    if not children and not text:
        return "<%s%s/>" % (localName(element.tag), attributes)
    inner = [escape(text)]
    for child in children:
        inner.append(serialize(child, ns))
        tail = child.tail or ""
        inner.append(escape(tail) if tail.strip() else "")
    return "<%s%s>%s</%s>" % (localName(element.tag), attributes, "".join(inner),
                              localName(element.tag))


def show(element, parentNamespace=NS_CLIENT, depth=1, like=None):
    """
    ``element`` indented for a failure message, one element a line; with
    ``like`` (the expected element), its attributes in the order the
    expected one lists them, so that the two read side by side.
    """
    pad = "    " * depth
    ns = namespace(element.tag)
    attributes = ""
    if ns != parentNamespace:
        attributes += " xmlns=%s" % quoteattr(ns)
    names = list(element.attrib)
    if like is not None:
        names.sort(key=lambda name: list(like.attrib).index(name) if name in like.attrib
                   else len(like.attrib))
    for name in names:
        attributes += " %s=%s" % (attributeName(name), quoteattr(element.get(name)))
    name = localName(element.tag)
    text = directText(element)
    children = list(element)
    if not children:
        if not text:
            return "%s<%s%s/>\n" % (pad, name, attributes)
        return "%s<%s%s>%s</%s>\n" % (pad, name, attributes, escape(text), name)
    lines = ["%s<%s%s>\n" % (pad, name, attributes)]
    if text:
        lines.append("%s    %s\n" % (pad, escape(text)))
    likeChildren = list(like) if like is not None else []
    for index, child in enumerate(children):
        twin = likeChildren[index] if index < len(likeChildren) else None
        if twin is not None and twin.tag != child.tag:
            twin = None
        lines.append(show(child, ns, depth + 1, twin))
    lines.append("%s</%s>\n" % (pad, name))
    return "".join(lines)
