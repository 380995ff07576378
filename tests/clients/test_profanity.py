"""
Profanity (libstrophe, Debian's) driven in tmux as a person would use it:
it verifies the server's certificate against the test CA, logs in over
STARTTLS and direct TLS ("legacy" TLS in its words), shows offline messages
and live ones, prints no server error at login, and manages its roster
(``/roster add|remove``, ``/sub request|allow``), which the account's other
resource and the server's storage see change.

Profanity is a terminal program: the test reads its screen with tmux
capture-pane. The screen has no event to await, so ``screenShows`` reads it
until a line appears (bounded), and the server's own events say when the
client is online.
"""

import asyncio
import datetime
import re

import pytest

from tests.aio import asyncioTest, wait
from tests.clients.conftest import clientEnvironment, requireProgram, run
from tests.clients.test_go_sendxmpp import agedOffline
from tests.modules.test_roster import NS_ROSTER, item, items
from tests.modules.test_roster import online as rosterOnline
from tests.offline.transcript import online, send
from tests.rawclient import NS_CLIENT, q

TRANSPORTS = ["starttls", "direct-tls"]
SCREEN_TIMEOUT = 20


def localTime(stamp):
    """A XEP-0082 UTC stamp as profanity shows it: HH:MM:SS in local time."""
    moment = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return moment.astimezone().strftime("%H:%M:%S")


class ProfanityInTmux:
    def __init__(self, tmux, socket, env):
        self.tmux = tmux
        self.socket = socket
        self.env = env

    @classmethod
    async def start(cls, xmpp, transport, user, home):
        tmux = requireProgram("tmux")
        profanity = requireProgram("profanity")
        env = clientEnvironment(xmpp, home)
        writeAccount(home, xmpp, transport, user)
        self = cls(tmux, str(home / "tmux.sock"), env)
        command = [profanity, "-a", "%s@localhost" % user]
        variables = []
        for key, value in env.items():
            variables += ["-e", "%s=%s" % (key, value)]
        started = await run([tmux, "-S", self.socket, "new-session", "-d", "-x", "160",
                             "-y", "50", *variables, *command], env)
        assert started.returncode == 0, started
        return self

    async def screen(self):
        shown = await run([self.tmux, "-S", self.socket, "capture-pane", "-p", "-J"], self.env)
        return shown.stdout

    async def screenShows(self, pattern, timeout=SCREEN_TIMEOUT, count=1):
        """The screen, once ``count`` lines on it match ``pattern``."""
        deadline = asyncio.get_event_loop().time() + timeout
        while True:
            screen = await self.screen()
            if len(re.findall(pattern, screen, re.M)) >= count:
                return screen
            if asyncio.get_event_loop().time() > deadline:
                raise AssertionError("profanity never showed %r; screen:\n%s" % (pattern, screen))
            await asyncio.sleep(0.1)

    async def type(self, text):
        """Type ``text`` and Enter at profanity's prompt."""
        typed = await run([self.tmux, "-S", self.socket, "send-keys", "-t", "0", text, "Enter"],
                          self.env)
        assert typed.returncode == 0, typed

    async def stop(self):
        await run([self.tmux, "-S", self.socket, "kill-server"], self.env)


def writeAccount(home, xmpp, transport, user):
    """Profanity's accounts file, as its /account commands would write it."""
    directory = home / ".local" / "share" / "profanity"
    directory.mkdir(parents=True, exist_ok=True)
    port = xmpp.port if transport == "starttls" else xmpp.directTLSPort
    jid = "%s@localhost" % user
    (directory / "accounts").write_text(
        "[%s]\nenabled=true\njid=%s\nserver=localhost\nport=%d\nresource=profanity\n"
        "password=secret-%s\ntls.policy=%s\n"
        % (jid, jid, port, user, "force" if transport == "starttls" else "legacy"))
    config = home / ".config" / "profanity"
    config.mkdir(parents=True, exist_ok=True)
    (config / "profrc").write_text("[ui]\nsplash=false\n")


async def loggedIn(xmpp, transport, user, home):
    """Profanity started with ``user``'s account, once the server sees it available."""
    client = await ProfanityInTmux.start(xmpp, transport, user, home)
    await wait(xmpp.available("%s@localhost" % user))
    await client.screenShows(r"%s@localhost/profanity logged in successfully" % user)
    return client


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_profanity_logs_in_verifying_the_certificate_and_shows_offline_messages_at_their_time(
        trusted_xmpp, transport, tmp_path):
    bob = await online(trusted_xmpp, "bob", "laptop")
    send(bob, "alice@localhost", "o1", "left while you were out")
    await wait(trusted_xmpp.storedOffline("alice@localhost", 1))
    [stamp] = await agedOffline(trusted_xmpp, "alice@localhost", hours=5)
    alice = await loggedIn(trusted_xmpp, transport, "alice", tmp_path / "alice")
    try:
        console = await alice.screenShows(r"<< chat message: bob@localhost/laptop \(win 2\)")
        assert "[TLS]" in console.splitlines()[0]
        await alice.type("/win 2")
        chat = await alice.screenShows("left while you were out")
        send(bob, "alice@localhost", "l1", "and now live")
        chat = await alice.screenShows("and now live")
    finally:
        await alice.stop()
        await bob.close()
    offlineLine = next(line for line in chat.splitlines() if "left while you were out" in line)
    liveLine = next(line for line in chat.splitlines() if "and now live" in line)
    # A delayed message is shown at the time of its delay, in local time.
    shownAt = localTime(stamp)
    assert offlineLine.startswith(shownAt) or offlineLine.startswith(shownAt[-8:]), (
        shownAt, offlineLine)
    assert not liveLine.startswith(shownAt), liveLine


async def pingOwnServer(client, attempts=15):
    """
    ``/ping`` once profanity knows the server's features: until its disco#info
    of the server is answered it refuses with "Server does not support ping
    requests", and the screen is all a test can see of that.
    """
    answer = r"Ping response from|Error returned from ping|does not support ping"
    for attempt in range(1, attempts + 1):
        await client.type("/ping")
        screen = await client.screenShows(answer, count=attempt)
        if re.findall(answer, screen)[attempt - 1] != "does not support ping":
            return screen
    raise AssertionError("profanity never pinged:\n" + screen)


@asyncioTest
async def test_profanity_ping_of_its_own_account_is_answered(trusted_xmpp, tmp_path):
    alice = await loggedIn(trusted_xmpp, "starttls", "alice", tmp_path / "alice")
    try:
        console = await pingOwnServer(alice)
    finally:
        await alice.stop()
    # No target means the own account (RFC 6120 §10.3.3); the server answers it.
    assert re.search(r"Ping response from alice@localhost: \d+ms", console), console


@asyncioTest
async def test_profanity_shows_no_server_error_at_login(trusted_xmpp, tmp_path):
    alice = await loggedIn(trusted_xmpp, "starttls", "alice", tmp_path / "alice")
    try:
        # Profanity sends its login requests first; the server answers in
        # order, so once the ping's answer shows, every earlier one has too.
        console = await pingOwnServer(alice)
    finally:
        await alice.stop()
    errors = [line.strip() for line in console.splitlines()
              if re.search(r"error", line, re.I)]
    assert errors == []


async def nextPush(client):
    """The next roster push to ``client``, past presence and messages; acknowledged."""
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "iq") and element.get("type") == "set":
            query = element.find(q(NS_ROSTER, "query"))
            if query is not None:
                client.sendRaw("<iq type='result' id='%s'/>" % element.get("id"))
                [pushed] = items(query)
                return pushed


async def nextPresence(client, sender, kind):
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "presence") and (
                element.get("from"), element.get("type")) == (sender, kind):
            return element


async def storedRoster(xmpp, owner):
    """``owner``'s roster as the server keeps it: (contact, name, subscription, pending out)."""
    _, rows = await wait(xmpp.storage.roster.getRoster(owner))
    return [(r.contact, r.name, r.subscription, r.pendingOut) for r in rows]


@asyncioTest
async def test_profanity_roster_add_and_remove_reach_the_accounts_other_resource_and_storage(
        trusted_xmpp, tmp_path):
    tablet = await rosterOnline(trusted_xmpp, "alice", "tablet")
    alice = await loggedIn(trusted_xmpp, "starttls", "alice", tmp_path / "alice")
    try:
        await alice.type("/roster add bob@localhost Bob")
        assert await nextPush(tablet) == item("bob@localhost", "Bob")
        assert await storedRoster(trusted_xmpp, "alice@localhost") == [
            ("bob@localhost", "Bob", "none", False)]
        await alice.screenShows(r"Roster item added: bob@localhost \(Bob\)")

        await alice.type("/roster remove bob@localhost")
        assert await nextPush(tablet) == item("bob@localhost", subscription="remove")
        assert await storedRoster(trusted_xmpp, "alice@localhost") == []
        await alice.screenShows(r"Roster item removed: bob@localhost")
    finally:
        await alice.stop()
        await tablet.close()


@asyncioTest
async def test_profanity_subscription_request_and_approval_with_a_raw_client(
        trusted_xmpp, tmp_path):
    bob = await rosterOnline(trusted_xmpp, "bob", "laptop")
    tablet = await rosterOnline(trusted_xmpp, "alice", "tablet")
    alice = await loggedIn(trusted_xmpp, "starttls", "alice", tmp_path / "alice")
    try:
        # alice asks to see bob's presence; bob hears it from her bare JID.
        await alice.type("/sub request bob@localhost")
        await nextPresence(bob, "alice@localhost", "subscribe")
        await alice.screenShows(r"Sent subscription request to bob@localhost")
        assert await nextPush(tablet) == item("bob@localhost", ask="subscribe")
        assert await storedRoster(trusted_xmpp, "alice@localhost") == [
            ("bob@localhost", "", "none", True)]
        bob.sendRaw("<presence to='alice@localhost' type='subscribed'/>")
        assert await nextPush(tablet) == item("bob@localhost", subscription="to")
        assert await storedRoster(trusted_xmpp, "alice@localhost") == [
            ("bob@localhost", "", "to", False)]
        # The subscription brings bob's presence at once (RFC 6121 §3.1.6).
        await alice.screenShows(r"Subscription received from bob@localhost")
        await alice.screenShows(r"\+\+ bob@localhost \(laptop\) is online")

        # bob asks back; profanity shows the request and alice allows it.
        bob.sendRaw("<presence to='alice@localhost' type='subscribe'/>")
        await alice.screenShows(r"Received authorization request from bob@localhost")
        await alice.type("/sub allow bob@localhost")
        await nextPresence(bob, "alice@localhost", "subscribed")
        assert await nextPush(tablet) == item("bob@localhost", subscription="both")
        assert await storedRoster(trusted_xmpp, "alice@localhost") == [
            ("bob@localhost", "", "both", False)]
        assert await storedRoster(trusted_xmpp, "bob@localhost") == [
            ("alice@localhost", "", "both", False)]
        # Now both ways: profanity lists bob as subscribed both, once it has
        # read the roster push the tablet read (under load, later than the
        # tablet): ask again until it says so, each answer a line of its own.
        for attempt in range(1, 11):
            await alice.type("/sub show bob@localhost")
            try:
                await alice.screenShows(r"bob@localhost subscription status: both",
                                        timeout=2 if attempt < 10 else SCREEN_TIMEOUT)
                break
            except AssertionError:
                if attempt == 10:
                    raise
    finally:
        await alice.stop()
        await tablet.close()
        await bob.close()
