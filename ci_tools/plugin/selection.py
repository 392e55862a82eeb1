"""Which tests a phase runs, and in what order: the markers, each test's metadata,
``--phase``/``--priority``, the order file and ``--shard``; the phase's selection is written
for the runner.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci_tools import rundir
from ci_tools.plugin import options
from ci_tools.plugin.keys import META
from ci_tools.records import PRIORITIES, Selected, selected_lines

# Whether the runner gave the tests' order (the last run's durations): else a pool of tests
# at once orders them as it measures them (``ci_tools.plugin.pending``).
ORDERED = pytest.StashKey[bool]()

MARKERS = (
    "phase(n): the phase (1-5) the test belongs to",
    "priority(level): the business priority, P1 (critical) to P6",
    "area(*names): what the test exercises, e.g. area('redis', 'websocket')",
    "serial: runs with no other test of its phase beside it (a load test measuring p95 "
    "under a load of its own, a restart): in forked workers after the others, one at a time; "
    "under xdist serial tests take turns",
)


def item_meta(item: pytest.Item) -> dict[str, Any]:
    """The phase, priority, areas and marker names of a test; bad marker values are refused."""
    # One walk over the markers, closest first (this runs for every collected test).
    markers = list(item.iter_markers())
    phase = next((m.args[0] for m in markers if m.name == "phase" and m.args), None)
    priority = next((m.args[0] for m in markers if m.name == "priority" and m.args), None)
    if phase is not None and (type(phase) is not int or phase < 1):  # True is no phase
        raise pytest.UsageError(f"{item.nodeid}: phase({phase!r}) must be a whole number >= 1")
    if priority is not None and priority not in PRIORITIES:
        raise pytest.UsageError(
            f"{item.nodeid}: priority({priority!r}) must be one of {', '.join(PRIORITIES)}"
        )
    areas = tuple(sorted({str(a) for m in markers if m.name == "area" for a in m.args}))
    names = tuple(sorted({m.name for m in markers} - {"parametrize", "usefixtures"}))
    return {"phase": phase, "priority": priority, "areas": areas, "markers": names}


def meta(item: pytest.Item) -> dict[str, Any]:
    """The metadata collection attached to a test (empty for a test it did not see)."""
    for key, value in item.user_properties:
        if key == META:
            found: dict[str, Any] = value  # type: ignore[assignment]  # set by this plugin
            return found
    return {}


def phased(config: pytest.Config) -> bool:
    """Whether collection is the plugin's to select (``--phase``, ``--priority``,
    ``--run-dir`` or ``--shard``); otherwise it leaves the tests alone and costs nothing."""
    return not (
        config.getoption("ci_tools_phase") is None
        and config.getoption("ci_tools_priority") is None
        and config.getoption("ci_tools_run_dir") is None
        and config.getoption("ci_tools_shard") is None
    )


def select(config: pytest.Config, items: list[pytest.Item]) -> bool:
    """Keeps the tests of ``--phase``/``--priority`` and of this shard, in the order file's
    order, each with its metadata attached; writes the phase's selection. True when a
    collected test is marked ``flaky`` (pytest-rerunfailures repeats those)."""
    phase = config.getoption("ci_tools_phase")
    keep, drop, serial, flaky = _kept(items, phase, config.getoption("ci_tools_priority"))
    if serial and not config.pluginmanager.hasplugin("ci_tools_serial_turns"):
        # Only where a serial test was collected (the process that runs it: an xdist worker,
        # or pytest itself): every other run pays nothing for the turns.
        from ci_tools.plugin.serial import SerialTurns  # noqa: PLC0415

        lock = rundir.serial_lock(options.run_dir(config), phase or 0, options.shard_index(config))
        config.pluginmanager.register(SerialTurns(lock), "ci_tools_serial_turns")
    rank = ranks(config.getoption("ci_tools_order"))
    by_rank(keep, rank)
    config.stash[ORDERED] = bool(rank)
    if config.getoption("ci_tools_shard") is not None:
        # The other shards' tests are theirs: deselected, not dropped.
        keep, drop = _this_shard(config, keep, drop, serial)
    if drop or rank:
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if phase is not None:
        path = rundir.selected(options.run_dir(config), phase, options.shard_index(config))
        rundir.write_atomically(path, selected_lines(_selected(item) for item in keep))
    return flaky


def _kept(
    items: list[pytest.Item], phase: int | None, priority: str | None
) -> tuple[list[pytest.Item], list[pytest.Item], list[str], bool]:
    """The tests kept and dropped, the node ids of the serial tests kept, and whether any test
    is marked ``flaky``. A kept test carries its metadata; a test without a phase marker stops
    a ``--phase`` run (deselecting it would hide it from the gate)."""
    wanted = set(priority.split(",")) if priority else None
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    serial: list[str] = []
    # Tests with the same parent and the same markers of their own (a parametrised function's
    # cases, a module's undecorated tests) have the same metadata: read once for them all.
    # The markers are the ones collection holds for the whole run, so their ids stay theirs.
    metas: dict[tuple[int, ...], dict[str, Any]] = {}
    for item in items:
        same = (id(item.parent), *map(id, item.own_markers))
        found = metas.get(same)
        if found is None:
            found = metas[same] = item_meta(item)
        if phase is not None and found["phase"] is None:
            raise pytest.UsageError(
                f"{item.nodeid} has no phase marker, so phase {phase} would silently leave it "
                f"out: add pytestmark = pytest.mark.phase(N) to its module"
            )
        if (phase is not None and found["phase"] != phase) or (
            wanted is not None and found["priority"] not in wanted
        ):
            drop.append(item)
            continue
        item.user_properties.append((META, found))
        keep.append(item)
        if "serial" in found["markers"]:
            serial.append(item.nodeid)
    flaky = any("flaky" in found["markers"] for found in metas.values())
    return keep, drop, serial, flaky


def _this_shard(
    config: pytest.Config, keep: list[pytest.Item], drop: list[pytest.Item], serial: list[str]
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """The tests of this process's shard, and those dropped with the other shards' added."""
    from ci_tools import shard  # noqa: PLC0415 - only a split run loads it

    index, count = shard.parse(config.getoption("ci_tools_shard"))
    nodeids = [item.nodeid for item in keep]
    mine = set(shard.of(nodeids, _durations(config), index, count, together=serial))
    drop += [item for item in keep if item.nodeid not in mine]
    return [item for item in keep if item.nodeid in mine], drop


def by_rank(items: list[pytest.Item], rank: dict[str, int]) -> None:
    """Sorts the tests by the order file: likely failures first (fail-fast comes early),
    then longest first (makespan); the rest follow as collected (the sort is stable)."""
    if rank:
        items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))


def ranks(path: str | None) -> dict[str, int]:
    """Each node id of the order file with its place; none when there is no file."""
    if not path:
        return {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}  # an ordering hint only: a missing file changes nothing else
    return {nodeid: place for place, nodeid in enumerate(n.strip() for n in lines if n.strip())}


def _durations(config: pytest.Config) -> dict[str, float]:
    """The durations ``--shard`` balances by; none without ``--shard-durations``."""
    path = config.getoption("ci_tools_durations")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(
            f"--shard-durations {path}: {exc}; give a JSON object of node id to seconds, or leave "
            "the option out to balance the shards by count"
        ) from None
    if not isinstance(data, dict):
        raise pytest.UsageError(
            f"--shard-durations {path}: not a JSON object of node id to seconds"
        )
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def _selected(item: pytest.Item) -> Selected:
    """A kept test as the phase's selection lists it."""
    found = meta(item)
    file, line, _ = item.location
    return Selected(
        item.nodeid, file, (line or 0) + 1, found["priority"], found["areas"], found["markers"]
    )
