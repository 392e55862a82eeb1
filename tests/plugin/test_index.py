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


def _index(path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs ``ci-tools index --output I.md ARGS`` in ``path``; the index it wrote."""
    result = subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "index", "--output", "I.md", *args],
        cwd=path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote I.md: ")
    return (path / "I.md").read_text()


def test_index_counts_per_phase_file_priority_and_area(pytester: pytest.Pytester) -> None:
    """Each file's row counts its tests, priorities and areas, and names the business impact
    of its most critical priority from [tool.ci_tools.priorities]; untagged tests are listed
    too."""
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.phases.1]
        title = "Infra"
        paths = ["test_a.py", "test_b.py"]
        [tool.ci_tools.priorities.P1]
        title = "Checkout"
        protects = "$9K MRR"
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
    """,
        test_b="import pytest\npytestmark = pytest.mark.phase(1)\ndef test_z(): pass\n",
    )
    text = _index(pytester.path)
    assert "5 tests in 1 phases." in text
    assert "| 1 | Infra | 5 | P1 3, none 2 |" in text
    assert "| file | tests | priority | business impact | area |" in text
    assert (
        "| `test_a.py` | 4 | P1 3, none 1 | P1 Checkout — $9K MRR | database 1, redis 4 |" in text
    )
    assert "| `test_b.py` | 1 | none 1 | - |  |" in text


def test_the_index_leads_with_the_priorities_and_what_each_protects(
    pytester: pytest.Pytester,
) -> None:
    """A table of every priority (title, what it protects, its tests) comes first; a file's
    business impact is its most critical priority, not its most frequent; a priority the
    table leaves out keeps its default title and states no figure."""
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.phases.1]
        title = "Features"
        paths = ["test_a.py"]
        [tool.ci_tools.priorities.P2]
        title = "Key features"
        protects = "$80K MRR"
        [tool.ci_tools.priorities.P3]
        title = "Important workflows"
        protects = "$50K MRR"
    """,
    )
    pytester.makepyfile(
        test_a="""
        import pytest
        pytestmark = pytest.mark.phase(1)
        @pytest.mark.priority("P3")
        @pytest.mark.parametrize("n", range(4))
        def test_many(n): pass
        @pytest.mark.priority("P2")
        def test_one(): pass
        @pytest.mark.priority("P6")
        def test_nice(): pass
        def test_untagged(): pass
    """
    )
    text = _index(pytester.path)
    table = text.split("| phase | title |")[0]
    assert (
        "| priority | title | protects | tests |\n"
        "|---|---|---|---:|\n"
        "| P1 | Core platform | - | 0 |\n"
        "| P2 | Key features | $80K MRR | 1 |\n"
        "| P3 | Important workflows | $50K MRR | 4 |\n"
        "| P4 | Secondary features | - | 0 |\n"
        "| P5 | Edge cases | - | 0 |\n"
        "| P6 | Nice to have | - | 1 |\n"
        "| none | - | - | 1 |\n"
    ) in table
    assert "| `test_a.py` | 7 | P2 1, P3 4, P6 1, none 1 | P2 Key features — $80K MRR |" in text


def test_a_bad_priorities_table_stops_the_index_in_one_line(pytester: pytest.Pytester) -> None:
    """An unknown priority name: exit 2 and one line naming the key, no index written."""
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.phases.1]
        title = "Infra"
        paths = ["test_a.py"]
        [tool.ci_tools.priorities.P0]
        title = "Everything"
    """,
    )
    pytester.makepyfile(test_a="def test_x(): pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "index", "--output", "I.md"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "[tool.ci_tools] priorities.P0: unknown priority; use one of P1" in result.stderr
    assert not (pytester.path / "I.md").exists()


def test_with_an_empty_store_the_history_column_is_there_and_says_dash(
    pytester: pytest.Pytester,
) -> None:
    """``--history`` against a store with no runs yet: the column is in the header and in
    every row (no row wider than its header)."""
    from ci_tools.environment import HISTORY_URL, sqlite_url  # noqa: PLC0415
    from ci_tools.history.store import open_store  # noqa: PLC0415

    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.phases.1]
        title = "Infra"
        paths = ["test_a.py"]
    """,
    )
    pytester.makepyfile(
        test_a="import pytest\npytestmark = pytest.mark.phase(1)\ndef test_x(): pass\n"
    )
    url = sqlite_url(pytester.path / "history.db")
    open_store(url).close()
    text = _index(pytester.path, "--history", env={**os.environ, HISTORY_URL: url})
    section = text.split("## Phase 1: Infra\n\n")[1].splitlines()
    assert section[0] == "| file | tests | priority | business impact | area | historical success |"
    assert section[1] == "|---|---:|---|---|---|---:|"
    assert section[2] == "| `test_a.py` | 1 | none 1 | - |  | - |"


def test_with_a_store_the_index_gains_each_files_historical_success(
    pytester: pytest.Pytester,
) -> None:
    """``ci-tools index --history`` adds a Historical Success column read from the run store:
    each file's pass share over the last runs, "-" for a file the store has not seen."""
    from ci_tools.environment import HISTORY_URL, sqlite_url  # noqa: PLC0415
    from ci_tools.history.model import ResultRow, RunRow  # noqa: PLC0415
    from ci_tools.history.store import open_store  # noqa: PLC0415

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
    text = _index(pytester.path, "--history", env={**os.environ, HISTORY_URL: url})
    assert "| file | tests | priority | business impact | area | historical success |" in text
    assert "| `test_a.py` | 1 | none 1 | - |  | 75% (4 runs) |" in text
    assert "| `test_b.py` | 1 | none 1 | - |  | - |" in text
