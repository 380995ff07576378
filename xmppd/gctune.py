"""
Garbage-collector settings for the server process (not for tools or tests).

Each stanza allocates a few hundred container objects (domish elements,
Deferreds, coroutines), nearly all freed by reference counting at once.
With CPython's default thresholds (700, 10, 10) those allocations start a
young collection every 700 objects and, every 70,000 or so, a full
collection that walks every live object -- every session, roster and
parser of a busy server. Profiling the store benchmark showed about a fifth
of the server's CPU there. Larger thresholds keep the same collector
(cycles are still found and freed), just less often: at most
``YOUNG`` young objects and their cycles wait for a collection, a few MB.
"""

import gc

YOUNG = 50_000
MIDDLE = 20
OLD = 10


def tune():
    gc.set_threshold(YOUNG, MIDDLE, OLD)
