"""
The benchmark's servers, scenarios and sizes, and the accounts each
scenario and repetition uses (``Plan``).

Every round stores to and drains accounts no other round touched, so that
no round finds another's backlog or half-acknowledged messages.
"""

ALL_SERVERS = ["xmppd-sqlite", "xmppd-mysql", "prosody", "ejabberd"]
XMPPDS = ["xmppd-sqlite", "xmppd-mysql"]
# Not in the default run: xmppd on MariaDB with one driver named, to compare them.
DRIVER_SERVERS = ["xmppd-pymysql", "xmppd-mysqlclient"]
PEERS = ["prosody", "ejabberd"]
ALL_SCENARIOS = ["store", "drain", "login", "route", "idle", "grow-rows", "grow-sessions"]
# Not in the default run: xmppd as a cluster of N nodes on one port
# (``--servers xmppd-mysql,xmppd-cluster1,xmppd-cluster2``).
CLUSTER_SERVERS = ["xmppd-cluster1", "xmppd-cluster2", "xmppd-cluster3"]
DRAIN_SIZES = [100, 1000, 10000]
# The store scenario's two shapes (issue 15): (senders, offline recipients,
# messages per sender).
STORE_SHAPES = {"store5x1000": (5, 5, 1000), "store20x500": (20, 50, 500)}
# --quick: what a default run does at a fraction of its size (options given
# on the command line still win).
QUICK = {"reps": 1, "store_scale": 0.2, "max_drain": 1000, "login_seconds": 4,
         "login_rounds": 1, "route_pairs": 20, "route_messages": 200, "route_rounds": 1,
         "idle_sessions": 500,
         "grow_rows": 100000, "grow_sessions": 1000, "grow_drain": 1000, "grow_reps": 2}
FILL_SENDERS = 10
# The growth scenario's stored rows go to this many other accounts.
GROW_ACCOUNTS = 10000
# Growth within this fraction of the empty control's figure meets the goal.
GROWTH_TOLERANCE = 0.10
# What a growth phase grows: its rounds alternate between two servers
# started side by side, one left empty (the control, phase "KIND.empty")
# and one grown (phase "KIND").
GROWTH_KINDS = ["rows", "sessions"]
# Growth rounds at full size: a store of 5,000 messages lasts half a second,
# a 10,000 drain a tenth, and one figure moves by a third between runs, the
# machine's speed flipping between two modes about 1.4x apart within a
# minute: a median of five per side still drew a 0.73x from it, so seven.
DEFAULT_GROW_REPS = 7
# The round each growth side runs first and does not count: the first store
# after a start or a change of storage (the prefill) pays for the caches
# filling and SQLite's connection re-reading its schema.
WARM_UP = "w"
_TAGS = {"main": "", "rows": "gr", "rows.empty": "er", "sessions": "gs", "sessions.empty": "es"}


def controlOf(kind):
    """The phase that measures a growth kind's rounds on the empty server."""
    return kind + ".empty"


class Plan:
    def __init__(self, args):
        self.args = args
        a = args
        self.shapes = {key: (max(1, senders), max(1, recipients),
                             max(1, int(round(messages * a.store_scale))))
                       for key, (senders, recipients, messages) in STORE_SHAPES.items()}
        # Accounts by (phase, rep): the main repetitions, each growth kind's
        # control and its grown rounds store to and drain accounts of their own.
        self.growthKinds = [k for k in GROWTH_KINDS if "grow-" + k in a.scenarios]
        self.phases = ["main"] + [p for k in self.growthKinds for p in (controlOf(k), k)]
        self.storeSenders, self.storeRecipients, self.drainUsers = {}, {}, {}
        for r in range(a.reps):
            self._roundAccounts("main", r, self.shapes, DRAIN_SIZES)
        for phase in self.phases[1:]:
            self._roundAccounts(phase, WARM_UP, self.growthShapes(), [])
            for r in range(self.growthReps()):
                self._roundAccounts(phase, r, self.growthShapes(), [self.growthDrain()])
        self.fillSenders = ["f%d" % i for i in range(FILL_SENDERS)]
        self.loginUsers = ["l%d" % i for i in range(a.login_clients)]
        # Pairs of their own per repetition: messages xmppd delivered after a
        # receiver's last answered acknowledgement probe are stored again
        # when it closes (nothing unacknowledged is lost), and on the same
        # accounts they would arrive at the next repetition's login, be
        # counted there and hold its first probe unanswered.
        # So do the rounds of one repetition.
        self.routePairs = {(r, k): [("a%d.%d.%d" % (r, k, i), "b%d.%d.%d" % (r, k, i))
                                    for i in range(a.route_pairs)]
                           for r in range(a.reps) for k in range(a.route_rounds)}
        # The idle scenario and the growth by sessions share their accounts.
        self.idleSessions = self.sessions("i", a.idle_sessions)
        self.growSessions = self.sessions("i", a.grow_sessions)
        # Prosody's prefill copies a stored item of this account's.
        self.template = "template"

    def _roundAccounts(self, phase, rep, shapes, drains):
        tag = _TAGS[phase]
        for key, (senders, recipients, _m) in shapes.items():
            self.storeSenders[phase, rep, key] = [
                "%ss%s.%s.%d" % (tag, key[5:], rep, i) for i in range(senders)]
            self.storeRecipients[phase, rep, key] = [
                "%so%s.%s.%d" % (tag, key[5:], rep, j) for j in range(recipients)]
        for n in drains:
            self.drainUsers[phase, rep, n] = "%sd%s.%d" % (tag, rep, n)

    def growthReps(self):
        """The counted growth rounds on each side: ``--grow-reps``, at least ``--reps``."""
        return self.args.grow_reps or max(self.args.reps, DEFAULT_GROW_REPS)

    def sessions(self, prefix, count):
        accounts = max(1, count // self.args.idle_resources)
        return [("%s%d" % (prefix, k % accounts), "r%d" % (k // accounts))
                for k in range(count)]

    def growthShapes(self):
        return {"store5x1000": self.shapes["store5x1000"]}

    def growthDrain(self):
        return self.args.grow_drain

    def storeUsers(self, phase, shapes):
        return [u for (ph, _r, key), senders in self.storeSenders.items()
                if ph == phase and key in shapes
                for u in senders + self.storeRecipients[ph, _r, key]]

    def mainUsers(self):
        scenarios = self.args.scenarios
        users = []
        if "store" in scenarios:
            users += self.storeUsers("main", self.shapes)
        if "drain" in scenarios:
            users += [u for (ph, _r, n), u in self.drainUsers.items()
                      if ph == "main" and n <= self.args.max_drain]
            users += self.fillSenders
        if "login" in scenarios:
            users += self.loginUsers
        if "route" in scenarios:
            users += [u for pairs in self.routePairs.values() for pair in pairs for u in pair]
        return users

    def idleUsers(self):
        return sorted({u for u, _r in self.idleSessions}) if "idle" in self.args.scenarios else []

    def growUsers(self, kind, phase):
        """
        The accounts of one side of a growth comparison: as many on the
        control's server as on the grown one, the idle sessions' included.
        """
        users = self.storeUsers(phase, self.growthShapes())
        users += [u for (ph, _r, _n), u in self.drainUsers.items() if ph == phase]
        users += self.fillSenders
        if kind == "rows":
            users.append(self.template)
        else:
            users += sorted({u for u, _r in self.growSessions})
        return list(dict.fromkeys(users))
