"""The benchmarks' figures beside their goals, and the README's performance table made from
them.

A benchmark that checks a goal keeps what it measured with :func:`keep`: one JSON file a
benchmark (and pace) under ``benchmarks/figures/``, with the commit and the day it was
measured on, replaced by its next run. ``python benchmarks/_figures.py`` writes the README's
table from those files (``nox -s bench`` does, after the benchmarks); ``--check`` exits 1
when the README's table is not the one the files make. Standard library only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "benchmarks" / "figures"
README = ROOT / "README.md"
START = "<!-- performance table: written by benchmarks/_figures.py -->"
END = "<!-- end of the performance table -->"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured figure beside its goal."""

    what: str  # what was measured, as a reader asks it
    value: str  # the figure, with its unit
    goal: str  # the goal, as the issue states it ("<= 1.3"); "" for information
    met: bool | None  # None: no goal


def keep(name: str, command: str, figures: Sequence[Figure]) -> Path:
    """Keeps the figures a benchmark measured (``name``: the file's, ``command``: how to
    measure them again) with the commit and day; returns the file."""
    git = shutil.which("git")
    commit = ""
    if git is not None:
        found = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        commit = found.stdout.strip()
    FOLDER.mkdir(exist_ok=True)
    path = FOLDER / f"{name}.json"
    kept = {
        "command": command,
        "commit": commit or "?",
        "day": dt.datetime.now(dt.UTC).date().isoformat(),
        "figures": [dataclasses.asdict(f) for f in figures],
    }
    path.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(folder: Path = FOLDER) -> str:
    """The README's performance table: a row a figure, each benchmark's rows in file order,
    the benchmarks by name."""
    rows = [
        "| what | measured | goal | | measured by (commit, day) |",
        "|---|---:|---:|---|---|",
    ]
    for path in sorted(folder.glob("*.json")):
        kept = json.loads(path.read_text(encoding="utf-8"))
        source = f"`{kept['command']}` ({kept['commit']}, {kept['day']})"
        for figure in kept["figures"]:
            met = {True: "met", False: "**missed**", None: ""}[figure["met"]]
            rows.append(
                f"| {_cell(figure['what'])} | {_cell(figure['value'])} | "
                f"{_cell(figure['goal'])} | {met} | {_cell(source)} |"
            )
    return "\n".join(rows) + "\n"


def rendered(readme: str, folder: Path = FOLDER) -> str:
    """``readme`` with the table between its markers made from the figures' files."""
    head, found, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not found or not end:
        raise SystemExit(f"README.md has no {START} ... {END} markers for the table")
    return f"{head}{START}\n{table(folder)}{END}{tail}"


def main(argv: list[str]) -> int:
    """Writes the README's table (``--check``: exit 1 when it is not current)."""
    readme = README.read_text(encoding="utf-8")
    wanted = rendered(readme)
    if "--check" in argv:
        if wanted != readme:
            print("README.md's performance table is not current: run python benchmarks/_figures.py")
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
