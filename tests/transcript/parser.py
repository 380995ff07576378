"""
Reading a transcript file (``*.scs``), and finding its mistakes before a
server is started for it.

The syntax, line by line (a tab or spaces indent; ``#`` at the start of a
line is a comment, the first one is the transcript's title)::

    # What this transcript proves

    [Server]                           optional: config for this server,
        modules.offline.delivery_batch: 3      a dotted key, a TOML value

    [Client] alice                     a client, named as the steps call it
        jid: alice@localhost           its account (bare), created by the test
        password: secret-alice
        resource: r1                   optional: else the server assigns one

    [Client] alice's phone             several clients may share an account
        jid: alice@localhost
        password: secret-alice
        resource: phone

    ---------                          three dashes or more: the steps follow

    alice connects                     TCP, STARTTLS, SASL, bind
    alice sends:                       the indented XML below, one write
        <presence/>
    alice receives:                    each element below, in this order,
        <presence from="${alice's full JID}" to="${alice's full JID}"/>
    alice receives in any order:       the elements below, in some order
        ...
    alice receives nothing             nothing arrived before a ping's answer
    alice disconnects                  closes its stream; the session ends

In a block, elements are in ``jabber:client`` unless they say otherwise,
and the prefixes ``scansion:`` (``tests.transcript.matching``) and
``stream:`` are declared. ``${...}`` and ``{scansion:...}`` placeholders are
described in ``tests.transcript.matching``; a sent block may use only
``${...}``.
"""

import os
import re
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tests.transcript.matching import NS_TRANSCRIPT, STRICT, PlaceholderError, placeholders

CONNECTS = "connects"
SENDS = "sends"
RECEIVES = "receives"
RECEIVES_IN_ANY_ORDER = "receives in any order"
RECEIVES_NOTHING = "receives nothing"
DISCONNECTS = "disconnects"
# What may follow a client's name on a step's line.
ACTIONS = {"connects": CONNECTS, "sends:": SENDS, "receives:": RECEIVES,
           "receives in any order:": RECEIVES_IN_ANY_ORDER,
           "receives nothing": RECEIVES_NOTHING, "disconnects": DISCONNECTS}
WITH_BLOCK = (SENDS, RECEIVES, RECEIVES_IN_ANY_ORDER)
# Every order of the block is tried: 6 stanzas are 720 orders, more would crawl.
MAX_ANY_ORDER = 6
SEPARATOR = re.compile(r"-{3,}\s*$")
WRAPPER = ("<transcript xmlns='jabber:client' xmlns:scansion='%s'"
           " xmlns:stream='http://etherx.jabber.org/streams'>\n" % NS_TRANSCRIPT)


class TranscriptSyntaxError(Exception):
    """A mistake in a transcript, with the file and line that has it."""

    def __init__(self, path, line, message):
        Exception.__init__(self, "%s:%d: %s" % (path, line, message))
        self.path = path
        self.line = line
        self.message = message


@dataclass
class Client:
    name: str
    jid: str
    password: str
    resource: str | None
    line: int

    @property
    def username(self):
        return self.jid.split("@", 1)[0]

    @property
    def domain(self):
        return self.jid.split("@", 1)[1]


@dataclass
class Step:
    line: int
    client: str
    action: str
    # A block's XML as written (dedented), and its top-level elements parsed.
    source: str = ""
    elements: list = field(default_factory=list)

    def describe(self):
        return "%s %s" % (self.client, self.action)


@dataclass
class Transcript:
    path: str
    title: str
    server: dict
    clients: dict
    steps: list

    def accounts(self):
        """Each account the clients log in to, with its password."""
        return {client.jid: client.password for client in self.clients.values()}


def loadTranscript(path):
    """The transcript in the file ``path``, its mistakes named by its path from here."""
    path = Path(path)
    return parseTranscript(path.read_text(encoding="utf-8"), os.path.relpath(path))


def parseTranscript(text, path="<transcript>"):
    lines = text.splitlines()
    title = next((line.lstrip("#").strip() for line in lines if line.startswith("#")), "")
    separator = next((n for n, line in enumerate(lines) if SEPARATOR.match(line)), None)
    server, clients = _parseHeader(lines[:separator], path)
    if separator is None:
        raise TranscriptSyntaxError(path, len(lines) or 1,
                                    "no line of dashes between the clients and the steps")
    if not clients:
        raise TranscriptSyntaxError(path, separator + 1, "no [Client] declared")
    steps = _parseSteps(lines, separator + 1, clients, path)
    transcript = Transcript(path, title, server, clients, steps)
    _checkSteps(transcript)
    return transcript


# The header ----------------------------------------------------------------------


def _parseHeader(lines, path):
    server, clients = {}, {}
    section = None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            section = _openSection(line.strip(), number, path, server, clients)
            continue
        if section is None:
            raise TranscriptSyntaxError(path, number, "indented line outside [Server] or"
                                                      " [Client]")
        key, colon, value = line.strip().partition(":")
        if not colon or not key.strip() or not value.strip():
            raise TranscriptSyntaxError(path, number, "expected 'key: value', got %r"
                                        % line.strip())
        key, value = key.strip(), value.strip()
        if section == "server":
            _setServerOption(server, key, value, number, path)
        else:
            _setClientField(section, key, value, number, path)
    for client in clients.values():
        for required in ("jid", "password"):
            if getattr(client, required) is None:
                raise TranscriptSyntaxError(path, client.line, "[Client] %s has no %s"
                                            % (client.name, required))
    passwords = {}
    for client in clients.values():
        if passwords.setdefault(client.jid, client.password) != client.password:
            raise TranscriptSyntaxError(path, client.line, "%s is declared with two"
                                                           " passwords" % client.jid)
    return server, clients


def _openSection(header, number, path, server, clients):
    if header == "[Server]":
        return "server"
    if header.startswith("[Client]"):
        name = header[len("[Client]"):].strip()
        if not name or any(c in name for c in "${}:"):
            raise TranscriptSyntaxError(path, number, "a [Client] needs a name without"
                                                      " '$', '{', '}' or ':'")
        if name in clients:
            raise TranscriptSyntaxError(path, number, "client %s is declared twice" % name)
        clients[name] = Client(name, None, None, None, number)
        return clients[name]
    raise TranscriptSyntaxError(path, number, "expected [Server], [Client] NAME or a line"
                                              " of dashes, got %r" % header)


def _setServerOption(server, key, value, number, path):
    try:
        parsed = tomllib.loads("value = " + value)["value"]
    except tomllib.TOMLDecodeError as error:
        raise TranscriptSyntaxError(path, number, "%s: not a TOML value: %s" % (key, error))
    *tables, last = key.split(".")
    table = server
    for name in tables:
        table = table.setdefault(name, {})
        if not isinstance(table, dict):
            raise TranscriptSyntaxError(path, number, "%s: %s is a value, not a table"
                                        % (key, name))
    table[last] = parsed


def _setClientField(client, key, value, number, path):
    if key == "jid":
        if value.count("@") != 1 or "/" in value or value.startswith("@") or \
                value.endswith("@"):
            raise TranscriptSyntaxError(path, number, "jid: expected a bare JID"
                                                      " user@domain, got %r" % value)
        client.jid = value
    elif key == "password":
        client.password = value
    elif key == "resource":
        client.resource = value
    else:
        raise TranscriptSyntaxError(path, number, "unknown [Client] field %r (known: jid,"
                                                  " password, resource)" % key)


# The steps -------------------------------------------------------------------------


def _parseSteps(lines, start, clients, path):
    names = sorted(clients, key=len, reverse=True)
    steps = []
    index = start
    while index < len(lines):
        line, number = lines[index], index + 1
        index += 1
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            raise TranscriptSyntaxError(path, number, "indented line with no 'sends:' or"
                                                      " 'receives:' above it")
        step = _parseStepLine(line.rstrip(), number, names, path)
        if step.action in WITH_BLOCK:
            block = []
            while index < len(lines) and (not lines[index].strip() or lines[index][0].isspace()):
                block.append(lines[index])
                index += 1
            step.source = textwrap.dedent("\n".join(block)).strip("\n")
            if not step.source.strip():
                raise TranscriptSyntaxError(path, number, "%s: an indented block of XML"
                                                          " should follow" % step.describe())
            step.elements = _parseBlock(block, number + 1, path)
            if step.action == RECEIVES_IN_ANY_ORDER and len(step.elements) > MAX_ANY_ORDER:
                raise TranscriptSyntaxError(path, number, "%s takes at most %d stanzas"
                                            % (step.describe(), MAX_ANY_ORDER))
        steps.append(step)
    if not steps:
        raise TranscriptSyntaxError(path, start, "no steps after the line of dashes")
    return steps


def _parseStepLine(line, number, names, path):
    for name in names:
        if line.startswith(name + " "):
            action = ACTIONS.get(line[len(name) + 1:].strip())
            if action is not None:
                return Step(number, name, action)
            raise TranscriptSyntaxError(path, number, "%s: expected one of %s after the"
                                        " client's name" % (line, ", ".join(
                                            repr(a) for a in ACTIONS)))
    raise TranscriptSyntaxError(path, number, "%r does not start with a declared client"
                                              " (%s)" % (line, ", ".join(sorted(names))))


def _parseBlock(block, firstLine, path):
    """A block's top-level elements; an XML mistake is reported at its own line."""
    try:
        wrapper = ET.fromstring(WRAPPER + "\n".join(block) + "\n</transcript>")
    except ET.ParseError as error:
        line, column = error.position
        reason = re.sub(r": line \d+, column \d+$", "", str(error))
        raise TranscriptSyntaxError(path, firstLine + line - 2, "malformed XML: %s (column %d)"
                                    % (reason, column + 1))
    if (wrapper.text or "").strip() or any((child.tail or "").strip() for child in wrapper):
        raise TranscriptSyntaxError(path, firstLine, "text outside an element")
    return list(wrapper)


def _checkSteps(transcript):
    """
    Catch what would otherwise fail half-way through a run: a client used
    while not connected, a placeholder that means nothing, a variable used
    before it can be known, a pattern in what a client sends.
    """
    path = transcript.path
    connected, everConnected, remembered = set(), set(), set()
    for step in transcript.steps:
        name = step.client
        if step.action == CONNECTS:
            if name in connected:
                raise TranscriptSyntaxError(path, step.line, "%s is connected already" % name)
            connected.add(name)
            everConnected.add(name)
            continue
        if name not in connected:
            raise TranscriptSyntaxError(path, step.line, "%s: %s is not connected here"
                                        % (step.describe(), name))
        if step.action == DISCONNECTS:
            connected.discard(name)
            continue
        for element in step.elements:
            _checkDirectives(transcript, step, element)
            for value in _values(element):
                _checkValue(transcript, step, value, everConnected, remembered)


def _checkDirectives(transcript, step, element):
    for descendant in element.iter():
        for name, value in descendant.attrib.items():
            if not name.startswith("{%s}" % NS_TRANSCRIPT):
                continue
            if name != STRICT:
                problem = "unknown directive scansion:%s (known: scansion:strict)" % (
                    name.split("}")[1])
            elif step.action == SENDS:
                problem = "scansion:strict matches what is received; a client sends none"
            elif value not in ("true", "false"):
                problem = "scansion:strict is \"true\" or \"false\", not %r" % value
            else:
                continue
            raise TranscriptSyntaxError(transcript.path, step.line, "%s: %s"
                                        % (step.describe(), problem))


def _checkValue(transcript, step, value, everConnected, remembered):
    path = transcript.path
    try:
        parts = placeholders(value)
    except PlaceholderError as error:
        raise TranscriptSyntaxError(path, step.line, "%s: %s" % (step.describe(), error))
    for kind, argument in parts:
        if kind == "variable":
            if not _known(transcript, argument, everConnected, remembered):
                raise TranscriptSyntaxError(path, step.line, "%s: ${%s} is not known here"
                                            % (step.describe(), argument))
        elif kind != "text" and step.action == SENDS:
            raise TranscriptSyntaxError(path, step.line, "%s: {scansion:...} matches what"
                                        " is received; a client sends no pattern"
                                        % step.describe())
        elif kind == "capture":
            remembered.add(argument)


def _known(transcript, variable, everConnected, remembered):
    if variable in remembered:
        return True
    for suffix, needsConnection in (("'s full JID", True), ("'s JID", False)):
        if variable.endswith(suffix):
            name = variable[:-len(suffix)]
            return name in transcript.clients and (not needsConnection or name in everConnected)
    return False


def _values(element):
    """Every attribute value and text of ``element`` and its descendants."""
    for descendant in element.iter():
        for name, value in descendant.attrib.items():
            if not name.startswith("{%s}" % NS_TRANSCRIPT):
                yield value
        if descendant.text:
            yield descendant.text
        if descendant.tail:
            yield descendant.tail
