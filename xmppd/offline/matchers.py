"""
``store_paths``: Tigase's element-path matchers, deciding storage before the
type and content rules (SPEC §2 rule 3).

A matcher is ``[+|-]/message[items]/child[items]/…``: each segment names an
element (``*`` for any), and the items in brackets are a namespace (a bare
item) or attributes (``name=value``) it must have. The first matcher that
matches decides; ``-`` refuses storage. They are parsed once, when the
config is validated, so a malformed one stops start-up with one line
instead of silently never matching.
"""

import re

_SEGMENT = re.compile(r"^([^\[\]/=,]+)(?:\[([^\[\]]*)\])?$")


class MalformedMatcher(ValueError):
    pass


class Segment:
    def __init__(self, name, namespaces, attributes):
        self.name = name
        self.namespaces = namespaces
        self.attributes = attributes

    def matches(self, element):
        if self.name != "*" and element.name != self.name:
            return False
        if self.namespaces and element.uri not in self.namespaces:
            return False
        return all(element.getAttribute(k) == v for k, v in self.attributes.items())


class PathMatcher:
    """One ``store_paths`` entry: whether it matches, and what it says."""

    def __init__(self, text):
        self.text = text
        self.store = True
        path = text.strip()
        if path[:1] in ("+", "-"):
            self.store = path[0] == "+"
            path = path[1:]
        if not path.startswith("/"):
            raise MalformedMatcher("must start with '/', '+/' or '-/'")
        self.segments = [_parseSegment(part) for part in _split(path[1:])]
        if self.segments[0].name not in ("message", "*"):
            raise MalformedMatcher("the root element must be 'message'")

    def matches(self, stanza):
        return self.segments[0].matches(stanza) and _descend(stanza, self.segments[1:])

    def __repr__(self):
        return "PathMatcher(%r)" % (self.text,)


def _split(path):
    """Split at '/' outside brackets (a namespace URI holds slashes)."""
    parts, current, depth = [], "", 0
    for char in path:
        if char == "[":
            depth += 1
            if depth > 1:
                raise MalformedMatcher("nested '['")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise MalformedMatcher("']' without '['")
        if char == "/" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise MalformedMatcher("'[' without ']'")
    parts.append(current)
    return parts


def _parseSegment(part):
    name, _, rest = part.partition("[")
    if not name or any(c in name for c in "]=, "):
        raise MalformedMatcher("empty or invalid element name in %r" % (part,))
    namespaces, attributes = [], {}
    if rest:
        if not rest.endswith("]") or "]" in rest[:-1]:
            raise MalformedMatcher("text after ']' in %r" % (part,))
        for item in rest[:-1].split(","):
            item = item.strip()
            if not item:
                raise MalformedMatcher("empty item in %r" % (part,))
            if "=" in item:
                key, _, value = item.partition("=")
                if not key.strip():
                    raise MalformedMatcher("attribute without a name in %r" % (part,))
                attributes[key.strip()] = value.strip()
            else:
                namespaces.append(item)
    return Segment(name, namespaces, attributes)


def _descend(element, segments):
    if not segments:
        return True
    first, rest = segments[0], segments[1:]
    return any(first.matches(child) and _descend(child, rest)
               for child in element.elements())


def parseMatchers(texts):
    """PathMatchers for a ``store_paths`` list; MalformedMatcher names the bad one."""
    matchers = []
    for text in texts:
        try:
            matchers.append(PathMatcher(text))
        except MalformedMatcher as e:
            raise MalformedMatcher("malformed matcher %s: %s" % (_quote(text), e)) from None
    return matchers


def checkStorePaths(texts):
    """The Option ``check`` for ``store_paths``: None, or what is wrong."""
    try:
        parseMatchers(texts)
    except MalformedMatcher as e:
        return str(e)
    return None


def firstMatch(matchers, stanza):
    """The first matcher that matches ``stanza``, or None."""
    for matcher in matchers:
        if matcher.matches(stanza):
            return matcher
    return None


def _quote(text):
    return '"%s"' % text.replace('"', '\\"')
