"""
Summarise a py-spy ``raw`` (collapsed stacks) profile: the functions with the
most samples on top of the stack (self) and anywhere on it (inclusive).

    python3 -m bench.profsummary PROFILE.txt [--top 25] [--grep xmppd]
"""

import argparse
import collections


def summarise(path, top=25, grep=None):
    selfCounts = collections.Counter()
    inclusive = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            selfCounts[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    out = ["%d samples" % total, "", "self %:"]
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
    a = p.parse_args()
    print(summarise(a.profile, a.top, a.grep))


if __name__ == "__main__":
    main()
