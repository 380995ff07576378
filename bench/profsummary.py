"""
Summarise a py-spy ``raw`` (collapsed stacks) profile: the functions with the
most samples on top of the stack (self) and anywhere on it (inclusive).

    python3 -m bench.profsummary PROFILE.txt [--top 25] [--grep xmppd] [--busy]
        [--thread reactor|pool] [--layers]

py-spy samples wall-clock time. ``--busy`` leaves out the samples of a
thread waiting for work (the reactor in epoll, a database thread on its
queue), so that the percentages are of the time spent working; on a loaded
machine that time still includes being descheduled by the OS. ``--thread``
keeps the reactor's samples (stacks under ``ReactorBase.run``) or the
database threads' (the others) only.
"""

import argparse
import collections

# Leaf frames of a thread that waits for something to do.
IDLE_LEAVES = ("EPollReactor.doPoll", "Condition.wait", "select.select", "SelectReactor.doSelect")


# --layers: a sample's layer is that of its leaf frame (where the time is
# spent), first match wins.
LAYERS = [
    ("DB hand-off (thread pool queue, GIL)", ("threading.py", "queue.py", "_threadworker.py",
                                              "_team.py", "threadpool.py")),
    ("MySQL driver", ("MySQLdb/", "pymysql/")),
    ("SQLite", ("sqlite3",)),
    ("adbapi", ("adbapi.py",)),
    ("TLS (pyOpenSSL, twisted tls)", ("OpenSSL/", "protocols/tls.py", "xmppd/tls.py", "_cffi")),
    ("socket I/O", ("util.py:760", "tcp.py", "fdesc.py", "abstract.py", "posixbase.py")),
    ("XML serialise (toXml)", ("Serializer", "toXml", "escapeToXml", "XmlStream.send")),
    ("XML parse (expat, domish build)", ("Expat", "pyexpat", "xmlparse", "domish.py",
                                         "xmlstream.py")),
    ("xish dispatch (XPath observers)", ("xish/utility.py", "xish/xpath.py")),
    ("Deferreds, coroutines", ("defer.py",)),
    ("JID parsing", ("jid.py", "jidprep.py", "stringprep", "idna")),
    ("SCRAM, hashing", ("scram.py", "hmac.py", "hashlib")),
    ("logging, metrics", ("log.py", "prometheus_client", "context.py")),
    ("xmppd", ("xmppd/",)),
    ("wokkel", ("wokkel/",)),
]


def layerOf(leaf):
    for name, needles in LAYERS:
        if any(n in leaf for n in needles):
            return name
    return "other"


def isReactor(frames):
    return any(f.startswith("ReactorBase.run ") for f in frames)


def summarise(path, top=25, grep=None, busy=False, thread=None, layersOnly=False):
    selfCounts = collections.Counter()
    inclusive = collections.Counter()
    total = everything = 0
    threads = collections.Counter()
    layers = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = stack.split(";")
            everything += n
            kind = "reactor" if isReactor(frames) else "pool"
            idle = frames[-1].startswith(IDLE_LEAVES)
            threads[kind, idle] += n
            if busy and idle:
                continue
            if thread and kind != thread:
                continue
            total += n
            selfCounts[frames[-1]] += n
            layers[layerOf(frames[-1])] += n
            for frame in set(frames):
                inclusive[frame] += n
    out = ["%d samples, %d kept; reactor thread: %d working, %d waiting;"
           " database threads: %d working, %d waiting"
           % (everything, total, threads["reactor", False], threads["reactor", True],
              threads["pool", False], threads["pool", True]), "", "self %:"]
    total = max(total, 1)
    if layersOnly:
        return "\n".join(out[:1] + ["", "by layer (self time of the leaf frame) %:"] + [
            "%5.1f  %s" % (100.0 * n / total, name) for name, n in layers.most_common()])
    for frame, n in selfCounts.most_common(top):
        out.append("%5.1f  %s" % (100.0 * n / total, frame))
    out += ["", "inclusive %:"]
    shown = 0
    for frame, n in inclusive.most_common():
        if grep and grep not in frame:
            continue
        out.append("%5.1f  %s" % (100.0 * n / total, frame))
        shown += 1
        if shown >= top:
            break
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--grep")
    p.add_argument("--busy", action="store_true", help="leave out threads waiting for work")
    p.add_argument("--thread", choices=["reactor", "pool"])
    p.add_argument("--layers", action="store_true", help="group the self time by layer")
    a = p.parse_args()
    print(summarise(a.profile, a.top, a.grep, a.busy, a.thread, a.layers))


if __name__ == "__main__":
    main()
