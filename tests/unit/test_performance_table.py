"""The README's performance table is the one the benchmarks' kept figures make: nobody edits
a figure by hand, and a benchmark's new figures reach it through ``benchmarks/_figures.py``."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def figures_module() -> ModuleType:
    """``benchmarks/_figures.py`` (a script folder, not a package)."""
    spec = importlib.util.spec_from_file_location("_figures", ROOT / "benchmarks" / "_figures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_figures"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_readmes_table_is_made_from_the_kept_figures() -> None:
    """README.md's table equals the one rendered from benchmarks/figures/*.json."""
    figures = figures_module()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert figures.rendered(readme) == readme, "run python benchmarks/_figures.py"


def test_a_kept_figure_becomes_a_row_with_its_goal_its_state_and_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keep`` writes a benchmark's figures with its command, commit and day; the table
    has a row a figure (a missed goal in bold, no goal empty, a '|' escaped), and a README
    without the markers is refused in one line."""
    figures = figures_module()
    monkeypatch.setattr(figures, "FOLDER", tmp_path)
    kept = figures.keep(
        "demo",
        "python benchmarks/demo.py",
        [
            figures.Figure("first | ratio", "1.38 (39.4 s / 28.5 s)", "<= 1.3", False),
            figures.Figure("memory", "990 MiB", "<= 1 GiB", True),
            figures.Figure("wall", "34.7 s", "", None),
        ],
    )
    stored = json.loads(kept.read_text(encoding="utf-8"))
    assert stored["command"] == "python benchmarks/demo.py"
    assert stored["commit"]
    assert stored["day"]
    rows = figures.table(tmp_path).splitlines()
    source = f"`python benchmarks/demo.py` ({stored['commit']}, {stored['day']})"
    assert rows[2:] == [
        f"| first \\| ratio | 1.38 (39.4 s / 28.5 s) | <= 1.3 | **missed** | {source} |",
        f"| memory | 990 MiB | <= 1 GiB | met | {source} |",
        f"| wall | 34.7 s |  |  | {source} |",
    ]
    readme = f"# x\n\n{figures.START}\nold\n{figures.END}\n\nafter\n"
    assert figures.rendered(readme, tmp_path) == (
        f"# x\n\n{figures.START}\n{figures.table(tmp_path)}{figures.END}\n\nafter\n"
    )
    with pytest.raises(SystemExit, match=r"no .* markers"):
        figures.rendered("# no table here\n", tmp_path)
