"""In-band registration (XEP-0077): create, change password, remove."""

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_SASL, RawClient, q, stanzaErrorCondition

NS_REGISTER = "jabber:iq:register"


async def registrationServer(make_database, tmp_path, **options):
    from tests.harness import startServer
    options.setdefault("min_seconds_between_registrations", "0s")
    database = await wait(make_database("sqlite"))
    return await wait(startServer(database, tmp_path, {"modules": {"register": options}}))


async def encrypted(server):
    client = await RawClient.connect(server.port)
    await client.open()
    await client.starttls()
    return client


def register(client, username, password, id="reg"):
    client.sendRaw("<iq type='set' id='%s'><query xmlns='%s'><username>%s</username>"
                   "<password>%s</password></query></iq>" % (id, NS_REGISTER, username, password))


@asyncioTest
async def test_register_then_log_in_change_password_and_remove(make_database, tmp_path):
    server = await registrationServer(make_database, tmp_path)
    try:
        client = await encrypted(server)
        assert client.features.find(q("http://jabber.org/features/iq-register", "register")) is not None
        client.sendRaw("<iq type='get' id='form'><query xmlns='%s'/></iq>" % NS_REGISTER)
        form = (await client.expect()).find(q(NS_REGISTER, "query"))
        assert form.find(q(NS_REGISTER, "username")) is not None
        register(client, "erin", "first-pw")
        assert (await client.expect()).get("type") == "result"
        assert await wait(server.storage.users.exists("erin@localhost"))

        register(client, "erin", "other", id="again")
        assert stanzaErrorCondition(await client.expect()) == ("cancel", "conflict")

        assert (await client.authenticate("erin", "first-pw")).tag == q(NS_SASL, "success")
        await client.open()
        await client.bind("r")
        client.sendRaw("<iq type='set' id='pw' to='localhost'><query xmlns='%s'>"
                       "<username>erin</username><password>second-pw</password></query></iq>"
                       % NS_REGISTER)
        assert (await client.expect()).get("type") == "result"

        again = await RawClient.connect(server.port)
        await again.login("erin", "second-pw", "two")
        again.sendRaw("<iq type='set' id='bye'><query xmlns='%s'><remove/></query></iq>"
                      % NS_REGISTER)
        assert (await again.expect()).get("type") == "result"
        await again.expectStreamError("not-authorized")
        await client.expectStreamError("not-authorized")
        assert not await wait(server.storage.users.exists("erin@localhost"))
    finally:
        await wait(server.stop())


@asyncioTest
async def test_registration_needs_fields_and_is_throttled(make_database, tmp_path):
    server = await registrationServer(make_database, tmp_path,
                                      min_seconds_between_registrations="1h")
    try:
        client = await encrypted(server)
        register(client, "frank", "")
        assert stanzaErrorCondition(await client.expect()) == ("modify", "not-acceptable")
        register(client, "", "pw")
        assert stanzaErrorCondition(await client.expect()) == ("modify", "not-acceptable")
        register(client, "frank", "pw")
        assert (await client.expect()).get("type") == "result"
        register(client, "grace", "pw")
        assert stanzaErrorCondition(await client.expect()) == ("wait", "policy-violation")
        assert not await wait(server.storage.users.exists("grace@localhost"))
    finally:
        await wait(server.stop())


@asyncioTest
async def test_no_registration_before_tls_or_when_disabled(make_database, tmp_path, xmpp):
    server = await registrationServer(make_database, tmp_path)
    try:
        plain = await RawClient.connect(server.port)
        await plain.open()
        register(plain, "mallory", "pw")
        await plain.expectStreamError("not-authorized")
    finally:
        await wait(server.stop())
    # The default server (register off) offers no registration at all.
    client = await RawClient.connect(xmpp.port)
    await client.open()
    await client.starttls()
    assert client.features.find(q("http://jabber.org/features/iq-register", "register")) is None
    register(client, "mallory", "pw")
    await client.expectStreamError("not-authorized")


@asyncioTest
async def test_password_of_another_account_cannot_be_changed(make_database, tmp_path):
    server = await registrationServer(make_database, tmp_path)
    try:
        await wait(server.addUser("alice", "a-pw"))
        await wait(server.addUser("bob", "b-pw"))
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "a-pw", "r")
        alice.sendRaw("<iq type='set' id='x' to='localhost'><query xmlns='%s'>"
                      "<username>bob</username><password>owned</password></query></iq>"
                      % NS_REGISTER)
        assert stanzaErrorCondition(await alice.expect()) == ("cancel", "not-allowed")
        alice.sendRaw("<iq type='set' id='y' to='bob@localhost'><query xmlns='%s'>"
                      "<password>owned</password></query></iq>" % NS_REGISTER)
        assert stanzaErrorCondition(await alice.expect()) == ("auth", "forbidden")
    finally:
        await wait(server.stop())


@asyncioTest
async def test_twenty_parallel_registrations_from_one_address_create_one_account(
        make_database, tmp_path):
    server = await registrationServer(make_database, tmp_path,
                                      min_seconds_between_registrations="10m")
    try:
        clients = [await encrypted(server) for _ in range(20)]
        for i, client in enumerate(clients):
            register(client, "racer%d" % i, "pw")
        replies = [await client.expect() for client in clients]
        results = [r for r in replies if r.get("type") == "result"]
        refused = [stanzaErrorCondition(r) for r in replies if r.get("type") == "error"]
        assert len(results) == 1
        assert refused == [("wait", "policy-violation")] * 19
        users = await wait(server.storage.users.listUsers("localhost"))
        assert len([u for u in users if u.startswith("racer")]) == 1
    finally:
        await wait(server.stop())


@asyncioTest
async def test_registration_of_a_localpart_over_1023_bytes_is_jid_malformed(
        make_database, tmp_path):
    server = await registrationServer(make_database, tmp_path)
    try:
        client = await encrypted(server)
        register(client, "a" * 1100, "pw")
        assert stanzaErrorCondition(await client.expect()) == ("modify", "jid-malformed")
        assert await wait(server.storage.users.listUsers("localhost")) == []
    finally:
        await wait(server.stop())


NS_DATA = "jabber:x:data"


def submitForm(client, username, password, id="form-reg"):
    client.sendRaw(
        "<iq type='set' id='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
        "<field var='username'><value>%s</value></field>"
        "<field var='password'><value>%s</value></field></x></query></iq>"
        % (id, NS_REGISTER, NS_REGISTER, username, password))


@asyncioTest
async def test_registration_form_is_offered_as_a_data_form_and_a_submitted_form_registers(
        make_database, tmp_path):
    server = await registrationServer(make_database, tmp_path)
    try:
        client = await encrypted(server)
        client.sendRaw("<iq type='get' id='form'><query xmlns='%s'/></iq>" % NS_REGISTER)
        query = (await client.expect()).find(q(NS_REGISTER, "query"))
        # Legacy fields for old clients, and the XEP-0077 §6 form beside them.
        assert query.find(q(NS_REGISTER, "username")) is not None
        form = query.find(q(NS_DATA, "x"))
        assert form.get("type") == "form"
        fields = {f.get("var"): f for f in form.findall(q(NS_DATA, "field"))}
        assert fields["FORM_TYPE"].findtext(q(NS_DATA, "value")) == NS_REGISTER
        assert fields["username"].get("type") == "text-single"
        assert fields["password"].get("type") == "text-private"
        assert fields["username"].find(q(NS_DATA, "required")) is not None

        submitForm(client, "frank", "form-pw")
        assert (await client.expect()).get("type") == "result"
        assert (await client.authenticate("frank", "form-pw")).tag == q(NS_SASL, "success")

        other = await encrypted(server)
        submitForm(other, "frank", "again", id="dup")
        assert stanzaErrorCondition(await other.expect()) == ("cancel", "conflict")
        submitForm(other, "", "pw", id="noname")
        assert stanzaErrorCondition(await other.expect()) == ("modify", "not-acceptable")
    finally:
        await wait(server.stop())
