"""The plugin's overhead: 2,000 trivial tests with it recording and without it, as a ratio.

Both runs use the same interpreter, files and flags; runs alternate so the machine's noise hits
both sides alike. The fastest run of each side is compared (as timeit does: noise only ever
adds time), and the medians are printed beside it. Goal (issue 10): ratio <= 1.02, ahead of the
lightest reporting plugin measured (pytest-md-report, 1.007). Both sides write bytecode (as
the runner's phases do, whatever PYTHONDONTWRITEBYTECODE says): without it every run compiles
the plugin again, which no real run pays.

This machine's wall clock swings by several percent between runs, which blurs a 2% goal.
``--instructions`` counts instead (valgrind's callgrind, after a warm run; the same count
every time for the same files, whatever else the machine does): one run a side, about three
minutes a side. The figures of docs/phases.md come from it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 2000
ROUNDS = 7
GOAL = 1.02
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # see above


def timed(args: list[str], cwd: Path) -> float:
    """Seconds for one pytest run, which must pass."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pytest failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def counted(args: list[str], cwd: Path) -> int:
    """Instructions for one pytest run under callgrind, after a warm run that wrote bytecode."""
    timed(args, cwd)
    out = cwd / "callgrind.out"
    result = subprocess.run(
        [
            *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable),
            *("-m", "pytest", "-q", "-p", "no:cacheprovider", *args),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"pytest under callgrind failed: {result.stderr[-2000:]}")
    return int(found.group(1))


def write_suite(root: Path) -> None:
    """TESTS trivial tests in ``root``."""
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "test_trivial.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('n', range({TESTS}))\n"
        "def test_trivial(n):\n    assert n >= 0\n"
    )


def by_instructions() -> int:
    """Counts each side once; exit 1 when the ratio misses the goal."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind: install it (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as folder:
        root = Path(folder)
        write_suite(root)
        no_reruns = ["-p", "no:rerunfailures"]
        base = counted(["-p", "no:ci_tools"], root)
        plugin = counted(["--run-dir", "out"], root)
        bare = counted(["-p", "no:ci_tools", *no_reruns], root)
        bare_plugin = counted(["--run-dir", "bare", *no_reruns], root)
        # The warm run and the counted one both recorded into out/.
        records = (root / "out" / "phase0.jsonl").read_text().count('"event":"test"') // 2
    ratio = plugin / base
    print(
        f"plugin overhead, {TESTS} trivial tests, in instructions: {plugin / 1e6:,.1f} M "
        f"recording ({records} records) vs {base / 1e6:,.1f} M without the plugin; "
        f"ratio {ratio:.4f} (goal <= {GOAL})"
    )
    print(
        f"  without pytest-rerunfailures on both sides: {bare_plugin / 1e6:,.1f} M vs "
        f"{bare / 1e6:,.1f} M; ratio {bare_plugin / bare:.4f}"
    )
    return 0 if ratio <= GOAL and records == TESTS else 1


def main() -> int:
    """Runs both sides ROUNDS times (or counts them); exit 1 when the ratio misses the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (valgrind) instead"
    )
    if parser.parse_args().instructions:
        return by_instructions()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as folder:
        root = Path(folder)
        write_suite(root)
        without, with_plugin, bare, bare_plugin = [], [], [], []
        no_reruns = ["-p", "no:rerunfailures"]
        for round_number in range(ROUNDS):
            without.append(timed(["-p", "no:ci_tools"], root))
            with_plugin.append(timed(["--run-dir", f"out{round_number}"], root))
            bare.append(timed(["-p", "no:ci_tools", *no_reruns], root))
            bare_plugin.append(timed(["--run-dir", f"bare{round_number}", *no_reruns], root))
        records = (root / "out0" / "phase0.jsonl").read_text().count('"event":"test"')
    base, plugin = min(without), min(with_plugin)
    ratio = plugin / base
    median_ratio = statistics.median(with_plugin) / statistics.median(without)
    print(
        f"plugin overhead, {TESTS} trivial tests: {plugin:.2f} s recording ({records} records) "
        f"vs {base:.2f} s without the plugin (fastest of {ROUNDS} each); ratio {ratio:.3f} "
        f"(goal <= {GOAL}); ratio of medians {median_ratio:.3f}"
    )
    # pytest-rerunfailures is installed with ci_tools, and the plugin runs a test's protocol
    # in its place when it would repeat nothing: that saving is in the ratio above. Without
    # it on both sides, what recording itself costs (for reference; not the goal):
    print(
        f"  without pytest-rerunfailures on both sides: {min(bare_plugin):.2f} s vs "
        f"{min(bare):.2f} s; ratio {min(bare_plugin) / min(bare):.3f}"
    )
    return 0 if ratio <= GOAL and records == TESTS else 1


if __name__ == "__main__":
    sys.exit(main())
