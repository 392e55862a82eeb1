"""``ci-tools index`` is generated from collection, and the committed index matches it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools.config import load
from ci_tools.index import collect, render

ROOT = Path(__file__).resolve().parents[2]


def test_committed_index_matches_collection() -> None:
    """tests/e2e/INDEX.md is what `ci-tools index` writes today: it has not drifted."""
    config = load(ROOT / "pyproject.toml")
    paths = sorted({p for phase in config.phases.values() for p in phase.paths})
    expected = render(config, collect(ROOT, paths))
    assert (ROOT / "tests" / "e2e" / "INDEX.md").read_text() == expected, (
        "tests/e2e/INDEX.md is stale: run `ci-tools index`"
    )
    assert int(expected.split(" tests in ")[0].rsplit("\n", 1)[-1]) >= 100


def test_index_counts_per_phase_file_priority_and_area(pytester: pytest.Pytester) -> None:
    """Each file's row counts its tests, priorities and areas; untagged tests are listed too."""
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.phases.1]
        title = "Infra"
        paths = ["test_a.py"]
    """,
    )
    pytester.makepyfile(
        test_a="""
        import pytest
        pytestmark = pytest.mark.phase(1)
        @pytest.mark.priority("P1")
        @pytest.mark.area("redis")
        @pytest.mark.parametrize("n", range(3))
        def test_x(n): pass
        @pytest.mark.area("redis", "database")
        def test_y(): pass
    """
    )
    result = subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "index", "--output", "I.md"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wrote I.md: 4 tests"
    text = (pytester.path / "I.md").read_text()
    assert "| 1 | Infra | 4 | P1 3, none 1 |" in text
    assert "| `test_a.py` | 4 | P1 3, none 1 | database 1, redis 4 |" in text


def test_with_a_store_the_index_gains_each_files_historical_success(
    pytester: pytest.Pytester,
) -> None:
    """``ci-tools index --history`` adds a Historical Success column read from the run store:
    each file's pass share over the last runs, "-" for a file the store has not seen."""
    from ci_tools.history.model import ResultRow, RunRow  # noqa: PLC0415
    from ci_tools.history.store import HISTORY_URL, open_store, sqlite_url  # noqa: PLC0415

    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.phases.1]
        title = "Infra"
        paths = ["test_a.py", "test_b.py"]
    """,
    )
    pytester.makepyfile(
        test_a="import pytest\npytestmark = pytest.mark.phase(1)\ndef test_x(): pass\n",
        test_b="import pytest\npytestmark = pytest.mark.phase(1)\ndef test_y(): pass\n",
    )
    url = sqlite_url(pytester.path / "history.db")
    store = open_store(url)
    for n, outcome in enumerate(["passed", "failed", "passed", "passed"]):
        run = RunRow(
            f"r{n}",
            1,
            "local",
            "abc",
            {},
            f"2026-12-01T0{n}:00:00.000Z",
            f"2026-12-01T0{n}:01:00.000Z",
            "healthy",
            "none",
            None,
            (1,),
            False,
            False,
            False,
            None,
        )
        store.record(run, [ResultRow("test_a.py::test_x", "test_a.py", 1, None, (), outcome, 0.1)])
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "index", "--output", "I.md", "--history"],
        cwd=pytester.path,
        env={**os.environ, HISTORY_URL: url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = (pytester.path / "I.md").read_text()
    assert "| file | tests | priorities | areas | historical success |" in text
    assert "| `test_a.py` | 1 | none 1 |  | 75% (4 runs) |" in text
    assert "| `test_b.py` | 1 | none 1 |  | - |" in text
