"""
The roster store, one contract held on memory, SQLite and MariaDB: items,
versions, pending requests.
"""

import dataclasses

import pytest
import pytest_twisted

from xmppd.storage.interfaces import RosterFull
from xmppd.storage.memory import MemoryRosterStore
from xmppd.storage.roster import RosterRow, RosterState, RosterStore

ALICE = "alice@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"


def put(item):
    return lambda old: dataclasses.replace(old, item=item)


class TestRosterStore:
    def test_the_backend_has_its_own_roster_store(self, stores, store_backend):
        expected = MemoryRosterStore if store_backend == "memory" else RosterStore
        assert type(stores.roster) is expected

    @pytest_twisted.ensureDeferred
    async def test_roster_is_in_contact_order_whatever_the_order_added(self, stores):
        roster = stores.roster
        for contact in ("zoe@example.org", "\N{SNOWMAN}@example.org", "Bob@example.org",
                        "bob@example.org", "anna@example.org"):
            await roster.transition(ALICE, contact, put(RosterRow(contact)))
        _, items = await roster.getRoster(ALICE)
        assert [i.contact for i in items] == sorted(i.contact for i in items)
        assert [i.contact for i in items][:2] == ["Bob@example.org", "anna@example.org"]

    @pytest_twisted.ensureDeferred
    async def test_item_is_read_back_as_stored_no_name_as_empty_and_groups_as_a_tuple(
            self, stores):
        roster = stores.roster
        await roster.transition(ALICE, BOB, put(RosterRow(BOB, None, ["a", "b"])))
        assert (await roster.getState(ALICE, BOB)).item == RosterRow(BOB, "", ("a", "b"))

    @pytest_twisted.ensureDeferred
    async def test_a_change_that_raises_changes_nothing(self, stores):
        roster = stores.roster
        await roster.transition(ALICE, BOB, put(RosterRow(BOB)))

        def refuse(old):
            raise ValueError("no")
        with pytest.raises(ValueError):
            await roster.transition(ALICE, BOB, refuse)
        with pytest.raises(ValueError):
            await roster.transition(ALICE, BOB, put(RosterRow(CAROL)))
        assert await roster.getRoster(ALICE) == (1, [RosterRow(BOB)])

    @pytest_twisted.ensureDeferred
    async def test_pending_requests_are_in_contact_order(self, stores):
        roster = stores.roster
        for contact in (CAROL, BOB):
            await roster.transition(ALICE, contact, lambda old, c=contact: dataclasses.replace(
                old, pendingIn="<presence from='%s'/>" % c))
        assert [c for c, _ in await roster.pendingRequests(ALICE)] == [BOB, CAROL]

    @pytest_twisted.ensureDeferred
    async def test_new_roster_is_empty_at_version_zero(self, stores):
        assert await stores.roster.getRoster(ALICE) == (0, [])


    @pytest_twisted.ensureDeferred
    async def test_item_round_trips_with_groups_flags_and_non_ascii_name(self, stores):
        roster = stores.roster
        item = RosterRow(BOB, "B\N{LATIN SMALL LETTER O WITH DIAERESIS}b 100%?",
                         ("Friends", "\N{SNOWMAN}"), subscriptionTo=True, pendingOut=False,
                         subscriptionFrom=True, approved=False)
        old, new, version = await roster.transition(ALICE, BOB, put(item))
        assert old == RosterState() and new.item == item and version == 1
        assert await roster.getRoster(ALICE) == (1, [item])
        assert (await roster.getState(ALICE, BOB)).item.subscription == "both"


    @pytest_twisted.ensureDeferred
    async def test_every_item_change_bumps_the_version_and_no_change_does_not(self, stores):
        roster = stores.roster
        await roster.transition(ALICE, BOB, put(RosterRow(BOB)))
        await roster.transition(ALICE, BOB, put(RosterRow(BOB, "Bob")))
        _, _, version = await roster.transition(ALICE, BOB, lambda old: old)
        assert version == 2
        _, _, version = await roster.transition(ALICE, BOB, put(None))
        assert version == 3
        assert await roster.getRoster(ALICE) == (3, [])
        assert await roster.getVersion(BOB) == 0


    @pytest_twisted.ensureDeferred
    async def test_pending_request_is_kept_apart_from_the_roster_and_the_version(self, stores):
        roster = stores.roster
        xml = "<presence type='subscribe' from='bob@example.org'><status>hi</status></presence>"
        _, new, version = await roster.transition(
            ALICE, BOB, lambda old: dataclasses.replace(old, pendingIn=xml))
        assert new == RosterState(None, xml) and version == 0
        assert await roster.getRoster(ALICE) == (0, [])
        assert await roster.pendingRequests(ALICE) == [(BOB, xml)]
        await roster.transition(ALICE, BOB, lambda old: dataclasses.replace(old, pendingIn=None))
        assert await roster.pendingRequests(ALICE) == []


    @pytest_twisted.ensureDeferred
    async def test_new_item_past_the_limit_fails_and_changes_nothing(self, stores):
        roster = stores.roster
        await roster.transition(ALICE, BOB, put(RosterRow(BOB)), maxItems=1)
        with pytest.raises(RosterFull):
            await roster.transition(ALICE, CAROL, put(RosterRow(CAROL)), maxItems=1)
        # Updating an item that is already there is not adding one.
        await roster.transition(ALICE, BOB, put(RosterRow(BOB, "Bob")), maxItems=1)
        assert await roster.getRoster(ALICE) == (2, [RosterRow(BOB, "Bob")])


    @pytest_twisted.ensureDeferred
    async def test_subscribed_to_lists_owners_that_share_their_presence(self, stores):
        roster = stores.roster
        await roster.transition(ALICE, CAROL, put(RosterRow(CAROL, subscriptionFrom=True)))
        await roster.transition(BOB, CAROL, put(RosterRow(CAROL, subscriptionTo=True)))
        await roster.transition(CAROL, ALICE, put(RosterRow(
            ALICE, subscriptionTo=True, subscriptionFrom=True)))
        assert await roster.subscribedTo(CAROL) == {ALICE}
        assert await roster.subscribedTo(ALICE) == {CAROL}
        assert await roster.subscribedTo(BOB) == set()

    @pytest_twisted.ensureDeferred
    async def test_initial_presence_view_is_the_roster_requests_and_agreeing_owners_at_once(
            self, stores):
        roster = stores.roster
        xml = "<presence type='subscribe' from='bob@example.org'/>"
        assert await roster.initialPresenceView(ALICE) == (0, [], [], None)
        await roster.transition(ALICE, BOB, lambda old: dataclasses.replace(old, pendingIn=xml))
        await roster.transition(ALICE, CAROL, put(RosterRow(CAROL, subscriptionFrom=True)))
        version, rows, requests, agreeing = await roster.initialPresenceView(ALICE)
        assert (version, rows) == await roster.getRoster(ALICE)
        assert requests == [(BOB, xml)] and agreeing is None
        # With a "to" subscription, whose rosters agree to show it their presence.
        await roster.transition(ALICE, CAROL, put(RosterRow(CAROL, subscriptionTo=True)))
        await roster.transition(CAROL, ALICE, put(RosterRow(ALICE, subscriptionFrom=True)))
        await roster.transition(BOB, ALICE, put(RosterRow(ALICE, subscriptionTo=True)))
        _, rows, requests, agreeing = await roster.initialPresenceView(ALICE)
        assert [row.contact for row in rows] == [CAROL] and agreeing == {CAROL}


    @pytest_twisted.ensureDeferred
    async def test_concurrent_transitions_of_one_roster_lose_no_update(self, stores):
        from twisted.internet import defer
        roster = stores.roster

        def addGroup(group):
            def change(old):
                item = old.item or RosterRow(BOB)
                return dataclasses.replace(
                    old, item=dataclasses.replace(item, groups=item.groups + (group,)))
            return change

        await defer.gatherResults([roster.transition(ALICE, BOB, addGroup("g%d" % i))
                                   for i in range(10)], consumeErrors=True)
        version, [item] = await roster.getRoster(ALICE)
        assert version == 10
        assert sorted(item.groups) == sorted("g%d" % i for i in range(10))


    @pytest_twisted.ensureDeferred
    async def test_deleting_the_account_deletes_its_roster_and_requests(
            self, stores, account_manager):
        roster = stores.roster
        await account_manager.create(ALICE, "secret")
        await roster.transition(ALICE, BOB, put(RosterRow(BOB, subscriptionTo=True)))
        await roster.transition(ALICE, CAROL, lambda old: dataclasses.replace(
            old, pendingIn="<presence type='subscribe'/>"))
        await roster.transition(BOB, ALICE, put(RosterRow(ALICE, subscriptionFrom=True)))
        await account_manager.delete(ALICE)
        assert await roster.getRoster(ALICE) == (0, [])
        assert await roster.pendingRequests(ALICE) == []
        # Other rosters are theirs to keep.
        assert (await roster.getRoster(BOB))[1] == [RosterRow(ALICE, subscriptionFrom=True)]
