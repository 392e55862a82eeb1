"""``ci-tools index`` is generated from collection, and the committed index matches it."""

from __future__ import annotations

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
