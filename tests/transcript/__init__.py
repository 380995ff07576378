"""
Transcript tests: an integration test written as the conversation itself.

A transcript (``*.scs``, after Prosody's scansion) names its clients, then
says who connects, who sends which stanza and who receives which stanza,
exactly as they cross the wire::

    # bob gets what alice wrote while he was away

    [Client] alice
        jid: alice@localhost
        password: secret-alice
        resource: r1

    [Client] bob
        jid: bob@localhost
        password: secret-bob

    ---------

    alice connects

    alice sends:
        <message to="bob@localhost" id="m1" type="chat"><body>hi</body></message>

    bob connects

    bob sends:
        <presence/>

    bob receives:
        <presence from="${bob's full JID}" to="${bob's full JID}"/>
        <message from="${alice's full JID}" to="bob@localhost" id="m1" type="chat">
            <body>hi</body>
            <delay xmlns="urn:xmpp:delay" from="localhost"
                   stamp="{scansion:stamp}">Offline Storage</delay>
        </message>

    bob receives nothing

- ``parser`` reads the file (its docstring is the syntax reference);
- ``matching`` compares an expected stanza with a received one (its
  docstring says how strict that is, and the placeholders);
- ``runner`` plays a transcript against a running server over real TCP and
  STARTTLS with ``tests.rawclient``, and says what each step waits for.

A directory's transcripts run as one parametrised test on both backends:
see ``tests/offline/test_transcripts.py``.
"""
