"""
The runner against a real server (SQLite only: the backends are the
transcripts' business): accounts come from the header, and a transcript
that is wrong fails, saying where and why.
"""

import textwrap

import pytest

from tests.aio import asyncioTest
from tests.transcript import runner
from tests.transcript.parser import parseTranscript
from tests.transcript.runner import TranscriptFailure, playTranscript

HEADER = """\
# zoe and yann, who are no default users

[Client] zoe
\tjid: zoe@localhost
\tpassword: zoe's own password
\tresource: desk

[Client] yann
\tjid: yann@localhost
\tpassword: another one

---------

zoe connects
yann connects
"""


def transcript(steps):
    return parseTranscript(HEADER + textwrap.dedent(steps), "test.scs")


async def failure(serve, steps):
    with pytest.raises(TranscriptFailure) as caught:
        await playTranscript(transcript(steps), serve, "sqlite")
    return str(caught.value)


@asyncioTest
async def test_accounts_of_the_header_log_in_and_variables_and_remembered_values_work(serve):
    await playTranscript(transcript("""\
        yann sends:
        \t<presence/>

        yann receives:
        \t<presence from="${yann's full JID}" to="${yann's full JID}"/>

        yann sends:
        \t<iq type="get" id="{yann}"><ping xmlns="urn:xmpp:ping"/></iq>

        yann receives:
        \t<iq type="result" id="{scansion:any as pong}" from="${yann's JID}"
        \t    to="yann@localhost/{scansion:any}"/>

        zoe sends:
        \t<message to="${yann's full JID}" id="${pong}" type="chat"><body>hi</body></message>

        yann receives:
        \t<message from="zoe@localhost/desk" to="${yann's full JID}" id="{yann}" type="chat">
        \t\t<body>hi</body>
        \t</message>

        yann receives nothing
        """), serve, "sqlite")


@asyncioTest
async def test_a_wrong_expectation_fails_with_the_line_the_reason_and_both_stanzas(serve):
    text = await failure(serve, """\
        zoe sends:
        \t<message to="${yann's full JID}" id="m1" type="chat"><body>hi</body></message>

        yann receives:
        \t<message from="${zoe's full JID}" to="${yann's full JID}" id="m1" type="chat">
        \t\t<body>hello</body>
        \t</message>
        """)
    assert text.startswith("test.scs:19: yann receives: at /message/body: text: expected"
                           " 'hello', got 'hi'\nexpected:\n    <message "), text
    assert '\nexpected:\n    <message from="zoe@localhost/desk" to="yann@localhost/' in text
    assert '\nreceived:\n    <message from="zoe@localhost/desk" to="yann@localhost/' in text


@asyncioTest
async def test_receives_nothing_fails_on_what_did_arrive(serve):
    text = await failure(serve, """\
        zoe sends:
        \t<message to="${yann's full JID}" id="m1" type="chat"><body>hi</body></message>

        zoe receives nothing

        yann receives nothing
        """)
    assert text.startswith("test.scs:21: yann receives nothing: 1 stanza arrived where"
                           " nothing should\nreceived:\n    <message "), text


@asyncioTest
async def test_receives_nothing_waits_for_the_work_the_server_still_does_for_the_account(
        serve):
    # The reflection waits on the roster's database read; the ping does not.
    text = await failure(serve, """\
        yann sends:
        \t<presence/>

        yann receives nothing
        """)
    assert text.startswith("test.scs:19: yann receives nothing: 1 stanza arrived where"
                           " nothing should\nreceived:\n    <presence from=\"yann@"), text


@asyncioTest
async def test_a_stanza_that_never_comes_fails_after_the_timeout(serve, monkeypatch):
    monkeypatch.setattr(runner, "TIMEOUT", 0.3)
    text = await failure(serve, """\
        yann receives:
        \t<presence/>
        """)
    assert text == ("test.scs:16: yann receives: nothing arrived within 0.3 s\nexpected:\n"
                    "    <presence/>")


@asyncioTest
async def test_any_order_takes_either_order_but_not_a_wrong_stanza(serve):
    steps = """\
        zoe sends:
        \t<message to="${yann's full JID}" id="a" type="chat"><body>a</body></message>
        \t<message to="${yann's full JID}" id="b" type="chat"><body>b</body></message>

        yann receives in any order:
        \t<message from="${zoe's full JID}" to="${yann's full JID}" id="b" type="chat">
        \t\t<body>b</body>
        \t</message>
        \t<message from="${zoe's full JID}" to="${yann's full JID}" id="%s" type="chat">
        \t\t<body>a</body>
        \t</message>
        """
    await playTranscript(transcript(steps % "a"), serve, "sqlite")
    text = await failure(serve, steps % "c")
    assert text.startswith("test.scs:20: yann receives in any order: the 2 stanzas received"
                           " do not match the 2 expected in any order\nexpected:\n"), text
