"""
The report of a run: per metric the median with its spread, xmppd's ratio
to each peer, issue 15's goals as met or not, and the growth table.
"""

import json
import statistics

from bench.plan import (CLUSTER_SERVERS, DRAIN_SIZES, GROWTH_TOLERANCE, STORE_SHAPES, XMPPDS,
                        controlOf)


# metric key, label, higher is better
METRICS = [
    ("store5x1000", "store 5×1,000 → 5 offline: stored/s", True),
    ("store20x500", "store 20×500 → 50 offline: stored/s", True),
    ("drain100", "drain 100: s to last offline message", False),
    ("drain1000", "drain 1,000: s", False),
    ("drain10000", "drain 10,000: s", False),
    ("login", "login: logins/s (TLS+SCRAM+bind+roster+presence)", True),
    ("route", "route: live messages/s between online pairs", True),
    ("idle", "idle: KiB RSS per authenticated session", False),
    ("rows.store5x1000", "grown by rows: store 5×1,000 → 5 offline: stored/s", True),
    ("rows.drain10000", "grown by rows: drain 10,000: s", False),
    ("sessions.store5x1000", "grown by sessions: store 5×1,000 → 5 offline: stored/s", True),
    ("sessions.drain10000", "grown by sessions: drain 10,000: s", False),
]
HIGHER = {key: higher for key, _label, higher in METRICS}

# Issue 15's goals: (metric, xmppd backend, peer, least ratio). A ratio is
# xmppd over the peer for rates, the peer over xmppd for times and memory.
GOALS = []
for _shape in STORE_SHAPES:
    GOALS += [(_shape, "xmppd-sqlite", "prosody", 2.0), (_shape, "xmppd-sqlite", "ejabberd", 4.0),
              (_shape, "xmppd-mysql", "prosody", 1.0), (_shape, "xmppd-mysql", "ejabberd", 2.0)]
for _x in XMPPDS:
    GOALS += [("drain10000", _x, "prosody", 5.0), ("drain10000", _x, "ejabberd", 1.5),
              ("login", _x, "ejabberd", 1.2), ("route", _x, "ejabberd", 1.0),
              ("idle", _x, "prosody", 1.0)]


def metricsOf(plan):
    """METRICS with the sizes this run used."""
    n = plan.growthDrain()
    metrics = []
    for k, label, higher in METRICS:
        if k.endswith(".drain10000"):
            continue
        shape = k.rpartition(".")[2]
        if shape in plan.shapes:
            label = label.replace(shapeName(STORE_SHAPES[shape]), shapeName(plan.shapes[shape]))
        metrics.append((k, label, higher))
    label = "drain %s: s" % format(n, ",")
    metrics += [("rows.drain%d" % n, "grown by rows: " + label, False),
                ("sessions.drain%d" % n, "grown by sessions: " + label, False)]
    return metrics


def shapeName(shape):
    senders, recipients, messages = shape
    return "%d×%s → %d" % (senders, format(messages, ","), recipients)


def growthMetrics(plan):
    """The growth rounds' metrics: (key within a phase, label, higher is better)."""
    n = plan.growthDrain()
    store = "store " + shapeName(plan.growthShapes()["store5x1000"]) + " offline"
    drain = "drain " + format(n, ",")
    return [("store5x1000", store + ": stored/s", True),
            ("store5x1000.cpu", store + ": µs server CPU per message", False),
            ("drain%d" % n, drain + ": s", False),
            ("drain%d.cpu" % n, drain + ": µs server CPU per message", False)]


def ratio(results, key, higher, a, b):
    """a's figure over b's (rates) or b's over a's (times, memory); > 1: a is better."""
    va, vb = results.get(a, {}).get(key), results.get(b, {}).get(key)
    if not va or not vb:
        return None
    ma, mb = statistics.median(va), statistics.median(vb)
    if not ma or not mb:
        return None
    return ma / mb if higher else mb / ma


def cell(values):
    if not values:
        return "–"
    text = _fmt(statistics.median(values))
    if len(values) > 1:
        text += " (%s–%s)" % (_fmt(min(values)), _fmt(max(values)))
    return text


def table(results, servers, plan):
    xmppds = [s for s in servers if s.startswith("xmppd")]
    peers = [s for s in servers if not s.startswith("xmppd")]
    header = ["metric: median (min–max)"] + servers
    pairs = [(x, p) for x in xmppds for p in peers]
    if "xmppd-mysql" in servers:
        # A cluster against one node on the same MariaDB.
        pairs += [(c, "xmppd-mysql") for c in servers if c in CLUSTER_SERVERS]
    header += ["%s / %s" % (x.replace("xmppd-", "x-"), p.replace("xmppd-", "x-"))
               for x, p in pairs]
    rows = []
    for key, label, higher in metricsOf(plan):
        if not any(results.get(s, {}).get(key) for s in servers):
            continue
        row = [label] + [cell(results.get(s, {}).get(key)) for s in servers]
        for x, p in pairs:
            r = ratio(results, key, higher, x, p)
            row.append("–" if r is None else "%.2f×" % r)
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def goalLines(results, servers, plan):
    labels = {k: label.split(":")[0] for k, label, _h in metricsOf(plan)}
    largestDrain = "drain%d" % max(n for n in DRAIN_SIZES if n <= plan.args.max_drain)
    lines = []
    for key, x, peer, least in GOALS:
        if key == "drain10000":
            # The goal's drain is 10,000; --quick drains less.
            key = largestDrain
        if x not in servers or peer not in servers:
            continue
        r = ratio(results, key, HIGHER[key], x, peer)
        if r is None:
            continue
        lines.append("- %s, %s / %s: %.2f× (goal ≥ %g×): %s" % (
            labels[key], x, peer, r, least, "met" if r >= least else "NOT met"))
    return lines


def growthTable(results, servers, plan):
    """
    Each growth kind's grown rounds against its own empty control: a server
    started beside the grown one, their rounds taking turns
    (``bench.run.growthPhase``), not the main table's empty figures, which
    come from other processes at other times.
    """
    kinds = plan.growthKinds
    grownBy = {"rows": "grown by %s rows" % format(plan.args.grow_rows, ","),
               "sessions": "grown by %s sessions" % format(plan.args.grow_sessions, ",")}
    header = ["server", "metric"]
    for kind in kinds:
        header += ["%s: empty control" % kind, grownBy[kind], "ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdicts = []
    for s in servers:
        got = results.get(s, {})
        for key, label, higher in growthMetrics(plan):
            row = [s, label]
            found = False
            for kind in kinds:
                empty, grown = got.get(controlOf(kind) + "." + key), got.get(kind + "." + key)
                found = found or bool(grown)
                row += [cell(empty), cell(grown)]
                if not empty or not grown:
                    row.append("–")
                    continue
                e, g = statistics.median(empty), statistics.median(grown)
                r = (g / e if higher else e / g) if e and g else None
                row.append("–" if r is None else "%.2f×" % r)
                if s.startswith("xmppd") and not key.endswith(".cpu") and r is not None:
                    cpuEmpty = got.get(controlOf(kind) + "." + key + ".cpu")
                    cpuGrown = got.get(kind + "." + key + ".cpu")
                    cpu = ""
                    if cpuEmpty and cpuGrown:
                        ce, cg = statistics.median(cpuEmpty), statistics.median(cpuGrown)
                        cpu = "; server CPU per message %.0f → %.0f µs" % (ce, cg)
                        if ce and cg:
                            cpu += " (%.2f×)" % (ce / cg)
                    verdicts.append("- %s, %s, %s: %.3f× of its empty control (goal ≥ %.2f×):"
                                    " %s%s%s" % (s, grownBy[kind], label.split(":")[0], r,
                                                 1 - GROWTH_TOLERANCE,
                                                 "met" if r >= 1 - GROWTH_TOLERANCE else "NOT met",
                                                 pairedText(empty, grown, higher), cpu))
            if found:
                lines.append("| " + " | ".join(row) + " |")
        loadCells = []
        for kind in kinds:
            for phase in (controlOf(kind), kind):
                values = got.get(phase + ".load")
                if values:
                    loadCells.append("%s %.2f–%.2f" % (phase, min(values), max(values)))
        if loadCells:
            verdicts.append("- %s, 1-minute load during the rounds: %s" % (s, ", ".join(loadCells)))
    return lines, verdicts


def pairedText(empty, grown, higher):
    """
    For the verdict: the median of the rounds' own ratios, each grown round
    against the control round run right before or after it. A second
    estimate beside the ratio of medians; where the two disagree, the
    machine's speed moved between the rounds.
    """
    pairs = [(g / e if higher else e / g) for e, g in zip(empty, grown) if e and g]
    if len(pairs) < 2 or len(empty) != len(grown):
        return ""
    return "; paired rounds %.3f× (%.2f–%.2f)" % (statistics.median(pairs), min(pairs),
                                                  max(pairs))


def _fmt(value):
    if value is None:
        return "–"
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.3f" % value


def report(results, loads, servers, plan, loadStart, loadEnd):
    args = plan.args
    out = ["", "%d repetition%s, medians (min–max); ratio > 1 means xmppd is better."
           % (args.reps, "" if args.reps == 1 else "s"),
           "1-minute load average: %s at start, %s at end; during the measurements %s."
           % (loadStart, loadEnd, ", ".join(
               "%s %.2f–%.2f" % (s, min(loads[s]), max(loads[s])) for s in servers
               if loads.get(s))),
           "", table(results, servers, plan)]
    goals = goalLines(results, servers, plan)
    if goals:
        out += ["", "Goals (issue 15), ratios of medians:"] + goals
    growth, verdicts = growthTable(results, servers, plan)
    if len(growth) > 2:
        out += ["", "Growth: each grown server against its own empty control, a server of"
                " the same build started beside it on fresh storage with as many accounts,"
                " the two taking turns (storage settled, a warm-up store each, then %d"
                " rounds of the store and the drain each, fresh accounts every round,"
                " control first, then grown first, ...); medians (min–max) of all rounds"
                " (of all runs with --report); ratio > 1: faster, or less CPU, when grown."
                % plan.growthReps()]
        out += growth + [""] + verdicts
    return "\n".join(out)



def pooled(paths):
    """The results and loads of several --json files, repetitions appended."""
    results, loads, starts, ends = {}, {}, [], []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for server, metrics in data["results"].items():
            for key, values in metrics.items():
                results.setdefault(server, {}).setdefault(key, []).extend(values)
        for server, values in data["loads"].items():
            loads.setdefault(server, []).extend(values)
        starts.append(data["load_start"])
        ends.append(data["load_end"])
    return results, loads, " / ".join(starts), " / ".join(ends)
