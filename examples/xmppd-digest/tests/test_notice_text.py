"""The wording of the notice, for the digests a user can come back to."""

import pytest

from xmppd_digest.interfaces import Sender
from xmppd_digest.notice import awayText


def digest(*counts):
    return [Sender("%s@localhost" % name, n, 0) for name, n in counts]


@pytest.mark.parametrize("counts, named, text", [
    ([("alice", 1)], 3, "While you were away: 1 message from alice@localhost."),
    ([("alice", 3), ("bob", 1)], 3,
     "While you were away: 3 messages from alice@localhost and 1 from bob@localhost."),
    ([("alice", 3), ("bob", 2), ("carol", 1)], 3,
     "While you were away: 3 messages from alice@localhost, 2 from bob@localhost"
     " and 1 from carol@localhost."),
    ([("alice", 3), ("bob", 2), ("carol", 1), ("dave", 1)], 2,
     "While you were away: 3 messages from alice@localhost, 2 from bob@localhost"
     " and 2 from 2 others."),
    ([("alice", 3), ("bob", 2)], 1,
     "While you were away: 3 messages from alice@localhost and 2 from 1 other."),
])
def test_the_notice_names_the_busiest_senders_and_sums_up_the_rest(counts, named, text):
    assert awayText(digest(*counts), named) == text
