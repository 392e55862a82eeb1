"""Splitting a phase's tests over several runners (``ci-tools shard``, ``--shard I/K``).

Longest first, each test to the shard with the least work so far (the classic longest-first
schedule, which pytest-split's ``least_duration`` also uses), on durations measured before:
the run store's last run, else the last run's records, else none (every test then weighs the
same, so the shards are balanced by count). A test with no measured duration weighs the median
of those that have one. Deterministic: ties go to the node id, then to the lowest shard, so every
job of a matrix computes the same split. Every test lands in exactly one shard, and no shard is
empty: fewer tests than shards gives fewer shards.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import heapq
import re
import statistics
from collections.abc import Collection, Mapping, Sequence

from ci_tools._exceptions import ConfigError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse(spec: str) -> tuple[int, int]:
    """``"2/4"`` as (index, shards), both counted from 1."""
    found = _SPEC.match(spec)
    if not found:
        raise ConfigError(f"shard {spec!r}: write it as I/K, e.g. --shard 2/4 (shard 2 of 4)")
    index, shards = int(found.group(1)), int(found.group(2))
    if shards < 1 or not 1 <= index <= shards:
        raise ConfigError(f"shard {spec!r}: I must be between 1 and K, and K at least 1")
    return index, shards


def split(
    nodeids: Sequence[str],
    durations: Mapping[str, float],
    shards: int,
    together: Collection[str] = (),
) -> list[list[str]]:
    """The tests of each shard, each shard in the given (collection) order; at most
    ``min(shards, len(nodeids))`` shards, none empty. The tests in ``together`` (the
    ``serial`` ones: they take turns on one runner's lock, so two runners would overlap
    them) go to one shard as a block."""
    if shards < 1:
        raise ConfigError(f"shards: {shards}; there must be at least one")
    count = min(shards, len(nodeids))
    if count == 0:
        return []
    known = [durations[n] for n in nodeids if n in durations]
    default = statistics.median(known) if known else 1.0
    weight = {n: durations.get(n, default) for n in nodeids}
    grouped = set(together)
    block = [n for n in nodeids if n in grouped]
    if len(block) > 1:  # one unit, named by its first test, weighing all of them
        weight[block[0]] = sum(weight[n] for n in block)
        for n in block[1:]:
            del weight[n]
    # A min-heap of (work so far, tests so far, shard): equal work goes to the shard with
    # fewer tests, so tests measured at 0 s still spread over every shard.
    loads = [(0.0, 0, shard) for shard in range(count)]
    chosen: dict[str, int] = {}
    for nodeid in sorted(weight, key=lambda n: (-weight[n], n)):
        load, tests, shard = heapq.heappop(loads)
        chosen[nodeid] = shard
        heapq.heappush(loads, (load + weight[nodeid], tests + 1, shard))
    for nodeid in block[1:]:
        chosen[nodeid] = chosen[block[0]]
    result: list[list[str]] = [[] for _ in range(count)]
    for nodeid in nodeids:
        result[chosen[nodeid]].append(nodeid)
    return result


def of(
    nodeids: Sequence[str],
    durations: Mapping[str, float],
    index: int,
    shards: int,
    together: Collection[str] = (),
) -> list[str]:
    """The tests of shard ``index`` (from 1) of ``shards``; none when there are fewer tests
    than shards and this one is past them."""
    planned = split(nodeids, durations, shards, together)
    return planned[index - 1] if index <= len(planned) else []
