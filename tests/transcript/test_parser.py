"""
Reading transcripts, without a server: what a file declares, the steps it
holds, and each mistake reported at its own line before anything runs.
"""

import textwrap

import pytest

from tests.transcript.parser import (
    CONNECTS, DISCONNECTS, RECEIVES, RECEIVES_IN_ANY_ORDER, RECEIVES_NOTHING, SENDS,
    TranscriptSyntaxError, parseTranscript)

HEADER = """\
# alice talks to herself

[Client] alice
\tjid: alice@localhost
\tpassword: secret-alice
\tresource: r1

[Client] alice's phone
\tjid: alice@localhost
\tpassword: secret-alice

---------
"""


def parse(steps, header=HEADER):
    return parseTranscript(header + textwrap.dedent(steps), "test.scs")


def syntaxError(steps, header=HEADER):
    with pytest.raises(TranscriptSyntaxError) as caught:
        parse(steps, header)
    return caught.value


def test_a_transcript_declares_its_clients_and_server_and_lists_its_steps():
    transcript = parse("""\
        alice connects
        alice's phone connects

        # A comment between steps.
        alice sends:
        \t<message to="${alice's phone's full JID}">
        \t\t<body>hi</body>
        \t</message>
        \t<presence/>

        alice's phone receives:
        \t<message from="${alice's full JID}" to="{scansion:any}"><body>hi</body></message>

        alice receives in any order:
        \t<presence from="${alice's full JID}"/>
        \t<presence from="${alice's phone's full JID}"/>

        alice receives nothing
        alice disconnects
        """, header="[Server]\n\tmodules.offline.delivery_batch: 3\n"
                    "\tmodules.offline.store_paths: [\"/message/x\"]\n" + HEADER)
    assert transcript.title == "alice talks to herself"
    assert transcript.server == {"modules": {"offline": {
        "delivery_batch": 3, "store_paths": ["/message/x"]}}}
    alice, phone = transcript.clients["alice"], transcript.clients["alice's phone"]
    assert (alice.username, alice.domain, alice.password, alice.resource) == (
        "alice", "localhost", "secret-alice", "r1")
    assert phone.resource is None
    assert transcript.accounts() == {"alice@localhost": "secret-alice"}
    assert [(s.line, s.client, s.action) for s in transcript.steps] == [
        (16, "alice", CONNECTS), (17, "alice's phone", CONNECTS), (20, "alice", SENDS),
        (26, "alice's phone", RECEIVES), (29, "alice", RECEIVES_IN_ANY_ORDER),
        (33, "alice", RECEIVES_NOTHING), (34, "alice", DISCONNECTS)]
    sends = transcript.steps[2]
    assert [e.tag for e in sends.elements] == ["{jabber:client}message",
                                                "{jabber:client}presence"]
    assert sends.source.startswith('<message to="${alice\'s phone\'s full JID}">\n\t<body>')
    assert len(transcript.steps[4].elements) == 2


@pytest.mark.parametrize("text, line, message", [
    ("[Client] alice\n\tjid: alice@localhost\n\tpassword: x\n", 3,
     "no line of dashes between the clients and the steps"),
    ("---\nalice connects\n", 1, "no [Client] declared"),
    ("[Client] alice\n\tjid: alice\n", 2, "jid: expected a bare JID user@domain, got 'alice'"),
    ("[Client] alice\n\tjid: alice@localhost/r1\n", 2, "jid: expected a bare JID"),
    ("[Client] alice\n\tjid: alice@localhost\n---\nalice connects\n", 1,
     "[Client] alice has no password"),
    ("[Client] alice\n\tjid: a@localhost\n\tpassword: x\n\tcolour: red\n", 4,
     "unknown [Client] field 'colour' (known: jid, password, resource)"),
    ("[Client] alice\n\tjid: a@localhost\n\tpassword: x\n[Client] alice\n", 4,
     "client alice is declared twice"),
    ("[Client] a\n\tjid: a@localhost\n\tpassword: x\n[Client] b\n\tjid: a@localhost\n"
     "\tpassword: y\n---\na connects\n", 4, "a@localhost is declared with two passwords"),
    ("[Server]\n\tmodules.offline.delivery_batch: three\n", 2, "not a TOML value"),
    ("[Clients] alice\n", 1, "expected [Server], [Client] NAME or a line of dashes"),
    ("\tjid: alice@localhost\n", 1, "indented line outside [Server] or [Client]"),
])
def test_header_mistakes_are_reported_at_their_line(text, line, message):
    with pytest.raises(TranscriptSyntaxError) as caught:
        parseTranscript(text, "test.scs")
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith("test.scs:%d: " % line)


@pytest.mark.parametrize("steps, line, message", [
    ("bob connects\n", 13, "'bob connects' does not start with a declared client"
                           " (alice, alice's phone)"),
    ("alice logs in\n", 13, "alice logs in: expected one of 'connects'"),
    ("alice sends:\n\t<presence/>\n", 13, "alice sends: alice is not connected here"),
    ("alice connects\nalice connects\n", 14, "alice is connected already"),
    ("alice connects\nalice disconnects\nalice receives nothing\n", 15,
     "alice is not connected here"),
    ("alice connects\nalice sends:\n\n# nothing\n", 14,
     "alice sends: an indented block of XML should follow"),
    ("alice connects\nalice sends:\n\t<presence>\n\t\t<status>hi</status>\n\t</presense>\n", 17,
     "malformed XML: mismatched tag"),
    ("alice connects\nalice sends:\n\thello\n", 15, "text outside an element"),
    ("alice connects\n\t<presence/>\n", 14, "indented line with no 'sends:' or 'receives:'"),
    ("alice connects\nalice sends:\n\t<iq id='{scansion:any}'/>\n", 14,
     "alice sends: {scansion:...} matches what is received; a client sends no pattern"),
    ("alice connects\nalice sends:\n\t<iq scansion:strict='false'/>\n", 14,
     "scansion:strict matches what is received"),
    ("alice connects\nalice receives:\n\t<iq scansion:strict='maybe'/>\n", 14,
     "scansion:strict is \"true\" or \"false\", not 'maybe'"),
    ("alice connects\nalice receives:\n\t<iq scansion:loose='true'/>\n", 14,
     "unknown directive scansion:loose"),
    ("alice connects\nalice receives:\n\t<iq id='{scansion:anything}'/>\n", 14,
     "unknown placeholder '{scansion:anything}'"),
    ("alice connects\nalice sends:\n\t<iq to=\"${alice's phone's full JID}\"/>\n", 14,
     "${alice's phone's full JID} is not known here"),
    ("alice connects\nalice sends:\n\t<iq to=\"${bob's JID}\"/>\n", 14,
     "${bob's JID} is not known here"),
    ("alice connects\nalice sends:\n\t<iq id='${push}'/>\nalice receives:\n"
     "\t<iq id='{scansion:any as push}'/>\n", 14, "${push} is not known here"),
    ("alice connects\nalice receives in any order:\n" + "\t<presence/>\n" * 7, 14,
     "alice receives in any order takes at most 6 stanzas"),
    ("", 12, "no steps after the line of dashes"),
])
def test_step_mistakes_are_reported_at_their_line_before_anything_runs(steps, line, message):
    error = syntaxError(steps)
    assert (error.line, error.path) == (line, "test.scs")
    assert message in error.message, error.message


def test_a_bare_jid_variable_needs_no_connection_and_a_remembered_value_is_known_after():
    transcript = parse("""\
        alice connects
        alice sends:
        \t<presence to="${alice's phone's JID}" type="probe"/>
        alice receives:
        \t<iq id="{scansion:any as push}"/>
        alice sends:
        \t<iq type="result" id="${push}"/>
        """)
    assert len(transcript.steps) == 4
