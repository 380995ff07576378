"""
The benchmark's servers, scenarios and sizes, and the accounts each
scenario and repetition uses (``Plan``).
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
         "route_pairs": 20, "route_messages": 200, "idle_sessions": 500,
         "grow_rows": 100000, "grow_sessions": 1000, "grow_drain": 1000}
FILL_SENDERS = 10
# The growth scenario's stored rows go to this many other accounts.
GROW_ACCOUNTS = 10000
# Growth within this fraction of the empty server's figure meets the goal.
GROWTH_TOLERANCE = 0.10




class Plan:
    def __init__(self, args):
        self.args = args
        a = args
        self.shapes = {key: (max(1, senders), max(1, recipients),
                             max(1, int(round(messages * a.store_scale))))
                       for key, (senders, recipients, messages) in STORE_SHAPES.items()}
        # Accounts by (phase, rep): the main repetitions and each growth
        # phase store to and drain accounts of their own.
        self.phases = ["main"] + [p for p in ("rows", "sessions") if "grow-" + p in a.scenarios]
        self.storeSenders, self.storeRecipients, self.drainUsers = {}, {}, {}
        for phase in self.phases:
            tag = {"main": "", "rows": "gr", "sessions": "gs"}[phase]
            for r in range(a.reps):
                for key, (senders, recipients, _m) in self.shapes.items():
                    self.storeSenders[phase, r, key] = [
                        "%ss%s.%d.%d" % (tag, key[5:], r, i) for i in range(senders)]
                    self.storeRecipients[phase, r, key] = [
                        "%so%s.%d.%d" % (tag, key[5:], r, j) for j in range(recipients)]
                for n in DRAIN_SIZES:
                    self.drainUsers[phase, r, n] = "%sd%d.%d" % (tag, r, n)
        self.fillSenders = ["f%d" % i for i in range(FILL_SENDERS)]
        self.loginUsers = ["l%d" % i for i in range(a.login_clients)]
        # Pairs of their own per repetition: messages xmppd delivered after a
        # receiver's last answered acknowledgement probe are stored again
        # when it closes (nothing unacknowledged is lost), and on the same
        # accounts they would arrive at the next repetition's login, be
        # counted there and hold its first probe unanswered.
        self.routePairs = {r: [("a%d.%d" % (r, i), "b%d.%d" % (r, i)) for i in range(a.route_pairs)]
                           for r in range(a.reps)}
        # The idle scenario and the growth by sessions share their accounts.
        self.idleSessions = self.sessions("i", a.idle_sessions)
        self.growSessions = self.sessions("i", a.grow_sessions)
        # Prosody's prefill copies a stored item of this account's.
        self.template = "template"

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

    def growUsers(self, phase):
        users = self.storeUsers(phase, self.growthShapes()) + self.fillSenders
        users += [u for (ph, _r, n), u in self.drainUsers.items()
                  if ph == phase and n == self.growthDrain()]
        if phase == "rows":
            users.append(self.template)
        else:
            users += sorted({u for u, _r in self.growSessions})
        return users

    def allUsers(self):
        users = self.mainUsers() + self.idleUsers()
        for phase in self.phases[1:]:
            users += self.growUsers(phase)
        return list(dict.fromkeys(users))
