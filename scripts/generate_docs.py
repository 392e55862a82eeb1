"""Regenerates every example of the README and docs/: job logs, worklogs, worklog groups and
screenshots, from real runs of the main job. ``nox -s docs`` runs it::

    python scripts/generate_docs.py                  # run the main job for every example
    python scripts/generate_docs.py --render-only    # re-render from docs/runs/ (seconds)

In full, the main job (``nox -s e2e``, through ``tests/integration/fault_matrix.py``, which
holds its lock: one main job at a time on a checkout) runs once for each example of
``EXAMPLES``, right after a healthy deploy as the fault matrix does; the examples of one
``store`` report into one run store, in order, so the later ones show history. Each run's
inputs to the report stage (records, gates, fail-fast trips, deployment context, identity)
are copied into ``docs/runs/<name>/``, normalised (``normalise``): checkout paths made
relative, times shifted to a fixed day (``BASE``), run ids and revision numbers renumbered,
local ports renumbered, pytest's "start" lines dropped. Nothing a run measured is changed.

Then, as ``--render-only`` does alone: each committed run is copied to a temporary folder
and reported there by the code of ``ci-tools report`` (``ci_tools.report.write_report``),
with a fixed commit, a project root without git and a run store of its own; the job log is
the gate lines and first failures as ``ci-tools run`` prints them, then the summary as
``ci-tools report`` prints it (80 columns, as in a CI log). Every block of README.md and
docs/*.md between ``<!-- generated: KIND ARGS -->`` and ``<!-- /generated -->`` is
rewritten (``KINDS``), and each example with a ``screenshot`` is drawn to
``docs/<screenshot>.png`` by ``screenshot_worklog`` (headless Chromium; ``--mermaid`` draws
the trend chart as GitHub does).

``tests/unit/test_docs.py`` renders the same way and fails when a block differs: a change of
the worklog's wording shows in the docs, or fails the tests until this script is run.
Errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from rich.console import Console

from ci_tools import cli
from ci_tools.config import Config, load
from ci_tools.diagnose import Diagnosis
from ci_tools.report import write_report
from ci_tools.report.terminal import print_summary
from ci_tools.rundir import read
from ci_tools.runner.excerpt import first_failure

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "runs"  # the committed inputs of every example, one folder each
DOCUMENTS = ("README.md", "docs/*.md")  # where generated blocks are looked for
ENV = "local"
COMMIT = "4d2c9e7a1f30"  # the commit every example shows: a fixed one, not the checkout's
BASE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # the examples' first moment
JOB_LOG_WIDTH = 80  # what rich prints to a CI log: no terminal, 80 columns
EXIT_USAGE = 2
# The files of a run directory the report stage reads (its outputs are rendered again). Not
# the selections (phaseN.selected.jsonl, the largest files): with every record kept, they add
# nothing to a report, where they only find records that are missing.
INPUTS = re.compile(r"phase\d+\.(?:jsonl|gate\.json|trips\.json)|context\.json|run\.json")
BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<what>[^>]*?) -->\n)(?P<body>.*?)(?P<close><!-- /generated -->)",
    re.DOTALL,
)


class DocsError(Exception):
    """A failure to report as one line on stderr (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One run of the main job that the docs show."""

    name: str  # its folder under docs/runs/
    faults: tuple[str, ...]  # as written after ``nox -s e2e -- --fault``
    store: str  # the examples of one store report into one run store, in EXAMPLES' order
    suite_defect: str = ""  # run from a broken copy of the suite (suite_defects.py)
    screenshot: str = ""  # docs/<screenshot>.png of its worklog

    @property
    def nox_args(self) -> tuple[str, ...]:
        """What follows ``nox -s e2e --``."""
        return tuple(arg for fault in self.faults for arg in ("--fault", fault))


EXAMPLES: tuple[Example, ...] = (
    # One store, in order: a healthy run, three faults, then Redis down again, whose worklog
    # shows the failures as known and the trend over five runs.
    Example("healthy", (), "history", screenshot="worklog-healthy"),
    Example("agent_hang", ("agent_hang",), "history"),
    Example("db_slow", ("db_slow=5000",), "history"),
    Example("redis_down", ("redis_down",), "history", screenshot="worklog-redis-down"),
    Example("redis_down_again", ("redis_down",), "history", screenshot="worklog-history"),
    # Alone: one group of each class (redis_down above is the infrastructure one).
    Example("handler_error", ("handler_error",), "handler_error"),
    Example("helper_bug", (), "helper_bug", suite_defect="helper_bug"),
)
BY_NAME = {example.name: example for example in EXAMPLES}


@dataclasses.dataclass(frozen=True)
class Rendered:
    """What the docs show of one example, rendered from its committed run."""

    worklog: str  # worklog.md as ``ci-tools report`` writes it
    job_log: str  # the end of the main job's log


# --- rendering from docs/runs (what the test does too) --------------------------------------


def render_all(runs: Path = RUNS, examples: Sequence[Example] = EXAMPLES) -> dict[str, Rendered]:
    """Every example rendered from its committed run, each store's examples in order."""
    config = load(ROOT / "pyproject.toml")
    rendered = {}
    with tempfile.TemporaryDirectory(prefix="docs-render-") as tmp:
        for example in examples:
            source = runs / example.name
            if not source.is_dir():
                raise DocsError(f"no committed run at {source}: run nox -s docs")
            store = f"sqlite:///{tmp}/{example.store}.db"
            rendered[example.name] = _render(config, source, Path(tmp) / example.name, store)
    return rendered


def _render(config: Config, source: Path, tmp: Path, store: str) -> Rendered:
    """One run reported in ``tmp`` by the report stage, as ``ci-tools report`` would."""
    identity = read.identity(source)
    if identity is None:
        raise DocsError(f"{source} has no run.json: run nox -s docs")
    run_dir = tmp / "reports" / identity.run_id
    shutil.copytree(source, run_dir)
    project = tmp / "project"  # no git (the commit is COMMIT), no quarantine file
    project.mkdir()
    environ = {"CI_TOOLS_HISTORY_URL": store, "CI_TOOLS_COMMIT": COMMIT}
    report = write_report(config, run_dir, ENV, project, environ)
    if report.warnings:
        raise DocsError(f"{source.name}: {report.warnings[0]}")
    shown = f"reports/{identity.run_id}"
    return Rendered(
        worklog=report.worklog.read_text(encoding="utf-8"),
        job_log=job_log(config, run_dir, shown, report.diagnosis),
    )


def job_log(config: Config, run_dir: Path, shown: str, diagnosis: Diagnosis) -> str:
    """The main job's log from its first gate on: each gate's line and first failure as
    ``ci-tools run`` prints them, then the summary of ``ci-tools report`` (the platform's
    start, each phase's start and progress lines and the context's lines are left out).
    Paths under the run say ``shown`` (``reports/<run-id>``); trailing spaces are cut."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        terminal = cli._Terminal(live=False)  # the printing of `ci-tools run`
        for gate in read.load(config, run_dir).gates:
            terminal.gate_judged(gate)
            records = read.records(run_dir, gate.phase).records
            excerpt = first_failure(records, gate.phase, Path(shown, f"phase{gate.phase}.log"))
            if excerpt is not None and gate.status in ("met", "not_met"):
                terminal.excerpt(excerpt)
    console = Console(
        file=out,
        width=JOB_LOG_WIDTH,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
    )
    print_summary(diagnosis, f"{shown}/worklog.md", console)
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())


# --- the blocks of the docs ----------------------------------------------------------------


def _fence(text: str, info: str) -> str:
    """``text`` in a fenced block longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}\n"


def _job_log_block(rendered: Rendered) -> str:
    return _fence(rendered.job_log, "text")


def _worklog_block(rendered: Rendered) -> str:
    return _fence(rendered.worklog, "markdown")


def _summary_block(rendered: Rendered) -> str:
    """The worklog's head: its headline, run table and summary, as Markdown source."""
    head, found, _ = rendered.worklog.partition("\n## Phases\n")
    if not found:
        raise DocsError("the worklog has no '## Phases' section to end its summary at")
    return _fence(head, "markdown")


def _group_block(rendered: Rendered, failure_class: str) -> str:
    """The worklog's first failure group of the class as the worklog shows it (open), its
    cause and evidence; the tests, links and log lines of the group left out."""
    lines = rendered.worklog.splitlines()
    opening = f"><summary><b>{failure_class}</b>"
    start = next((i for i, line in enumerate(lines) if opening in line), None)
    if start is None:
        raise DocsError(f"the worklog has no {failure_class} group")
    kept = [re.sub(r"^<details(?: open)?>", "<details open>", lines[start]), ""]
    for line in lines[start + 1 :]:
        if line.startswith("</details>"):
            break
        if line.startswith(("- cause:", "- evidence:", "- history:", "- first:")):
            kept.append(line)
    return "\n".join([*kept, "", "</details>"]) + "\n"


# Each kind of block: its arguments after the example's name, and how it is made.
KINDS: dict[str, tuple[int, Callable[..., str]]] = {
    "job-log": (0, _job_log_block),
    "worklog": (0, _worklog_block),
    "summary": (0, _summary_block),
    "group": (1, _group_block),
}


def block(what: str, rendered: Mapping[str, Rendered]) -> str:
    """The body of the block ``<!-- generated: WHAT -->``: ``KIND NAME [ARG]``."""
    kind, *args = what.split()
    if kind not in KINDS:
        raise DocsError(f"generated block {what!r}: no kind {kind!r}; use one of {sorted(KINDS)}")
    extra, make = KINDS[kind]
    if len(args) != 1 + extra:
        raise DocsError(f"generated block {what!r}: {kind} takes a name and {extra} argument(s)")
    name, *rest = args
    if name not in rendered:
        raise DocsError(f"generated block {what!r}: no example {name!r}; see EXAMPLES")
    return make(rendered[name], *rest)


def documents(root: Path = ROOT) -> list[Path]:
    """The README and every Markdown file of docs/ (the examples' runs are not documents)."""
    found = [root / pattern for pattern in DOCUMENTS if "*" not in pattern]
    found += [p for pattern in DOCUMENTS if "*" in pattern for p in sorted(root.glob(pattern))]
    return [path for path in found if path.is_file()]


def blocks(text: str) -> list[tuple[str, str]]:
    """Each generated block of a document: (what, body)."""
    return [(m["what"], m["body"]) for m in BLOCK.finditer(text)]


def rewrite(text: str, rendered: Mapping[str, Rendered]) -> str:
    """The document with every generated block made anew."""
    return BLOCK.sub(lambda m: m["open"] + block(m["what"], rendered) + m["close"], text)


def write_documents(rendered: Mapping[str, Rendered], root: Path = ROOT) -> list[Path]:
    """Rewrites the documents' blocks; those that changed."""
    changed = []
    for path in documents(root):
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, rendered)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def screenshots(rendered: Mapping[str, Rendered], mermaid: Path | None) -> list[Path]:
    """Draws each example's screenshot (``docs/<screenshot>.png``) from its rendered worklog."""
    from scripts import screenshot_worklog  # noqa: PLC0415 - Chromium only here

    written = []
    with tempfile.TemporaryDirectory(prefix="docs-shots-") as tmp:
        for example in EXAMPLES:
            if not example.screenshot:
                continue
            worklog = Path(tmp, example.name, "worklog.md")
            worklog.parent.mkdir()
            worklog.write_text(rendered[example.name].worklog, encoding="utf-8")
            out = ROOT / "docs" / f"{example.screenshot}.png"
            try:
                screenshot_worklog.screenshot(
                    worklog, out, screenshot_worklog.DEFAULT_WIDTH, None, mermaid
                )
            except screenshot_worklog.ScreenshotError as exc:
                raise DocsError(f"{out.name}: {exc}") from exc
            written.append(out)
    return written


# --- running the main job and keeping its runs ----------------------------------------------


def run_examples(examples: Sequence[Example] = EXAMPLES) -> dict[str, dict[str, str]]:
    """Runs the main job for each example (each store's examples into one run store, in
    order); each run's inputs, normalised, by example and file name."""
    from tests.integration import fault_matrix  # noqa: PLC0415 - starts nothing on import
    from tests.integration.suite_defects import broken_copy  # noqa: PLC0415

    taken: dict[str, tuple[Path, Path]] = {}
    with tempfile.TemporaryDirectory(prefix="docs-stores-") as stores:
        for example in examples:
            url = f"sqlite:///{stores}/{example.store}.db"
            with contextlib.ExitStack() as temporary:
                root = ROOT
                if example.suite_defect:
                    copy = temporary.enter_context(tempfile.TemporaryDirectory(prefix="broken-"))
                    root = broken_copy(example.suite_defect, Path(copy))
                seconds, done, _ = fault_matrix.main_job(
                    *example.nox_args, history_url=url, root=root, after_healthy=True
                )
                output = done.stdout + done.stderr
                try:
                    run_dir = fault_matrix.run_dir_of(output, example.name)
                except RuntimeError as exc:
                    raise DocsError(str(exc).splitlines()[0]) from exc
                if not (run_dir / "verdict.json").is_file():
                    raise DocsError(f"{example.name}: the main job wrote no verdict in {run_dir}")
                print(f"{example.name}: {run_dir.name}, {seconds:.1f} s to verdict", flush=True)
                taken[example.name] = (run_dir, root)
            # The copy of the suite is gone; its paths are known: they are normalised below.
    return normalise({name: _inputs(run_dir) for name, (run_dir, _) in taken.items()}, ROOT)


def _inputs(run_dir: Path) -> dict[str, str]:
    """The report stage's inputs in a run directory, by file name; records without pytest's
    "start" lines (every test that started also ended: the start is in its record)."""
    found = {}
    for path in sorted(run_dir.iterdir()):
        if not INPUTS.fullmatch(path.name):
            continue
        text = path.read_text(encoding="utf-8")
        if path.name.endswith(".jsonl") and ".selected." not in path.name:
            text = "".join(
                line for line in text.splitlines(keepends=True) if '"event":"start"' not in line
            )
        found[path.name] = text
    return found


_TIME = re.compile(r"\b(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|\+00:00)")
_RUN_ID = re.compile(r"\be2e-(\d{8}-\d{6})\b")
_REVISION = re.compile(r"\b(backend|auth|frontend)-(\d{5})-([a-z]{3})\b")
_PORT = re.compile(r"(?<=127\.0\.0\.1:)\d{2,5}\b|(?<='127\.0\.0\.1', )\d{2,5}\b")
# A temporary folder (a broken copy of the suite's root): matched and masked, never made.
_TEMP = re.compile(r"/tmp/[\w.-]+")  # noqa: S108
TEMP_MASK = "/tmp/…"  # noqa: S108 - the mask, not a path
_SITE = re.compile(r"[^\s\"'()]*/(site-packages|lib/python3\.\d+)/")


def normalise(runs: Mapping[str, Mapping[str, str]], root: Path) -> dict[str, dict[str, str]]:
    """The runs' files with what only this machine and moment say made neutral: the
    checkout's path and temporary folders gone from paths, the interpreter's folders named
    by their last part, every time shifted so that the earliest is ``BASE`` (run ids too),
    revision numbers counted from 1 per service over all runs, and each run's local ports
    numbered from 40001 in the order they appear. What the runs measured is kept."""
    texts = [text for files in runs.values() for text in files.values()]
    times = [_parse(m[1]) for text in texts for m in _TIME.finditer(text)]
    times += [_run_id_time(m[1]) for text in texts for m in _RUN_ID.finditer(text)]
    if not times:
        raise DocsError("the runs hold no time to shift")
    delta = BASE - min(times)
    first: dict[str, int] = {}
    for text in texts:
        for m in _REVISION.finditer(text):
            first[m[1]] = min(first.get(m[1], int(m[2])), int(m[2]))

    def neutral(text: str, ports: dict[str, str]) -> str:
        text = text.replace(f"{root}/", "").replace(str(root), ".")
        text = _SITE.sub(lambda m: f"{m[1]}/", text)
        text = _TEMP.sub(TEMP_MASK, text)
        text = _TIME.sub(lambda m: _shifted(m, delta), text)
        text = _RUN_ID.sub(
            lambda m: f"e2e-{_run_id_time(m[1]) + delta:%Y%m%d-%H%M%S}",
            text,
        )
        text = _REVISION.sub(
            lambda m: f"{m[1]}-{int(m[2]) - first[m[1]] + 1:05d}-{m[3]}",
            text,
        )
        return _PORT.sub(lambda m: ports.setdefault(m[0], str(40001 + len(ports))), text)

    result = {}
    for name, files in runs.items():
        ports: dict[str, str] = {}
        result[name] = {file: neutral(text, ports) for file, text in sorted(files.items())}
    return result


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)


def _run_id_time(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)


def _shifted(m: re.Match[str], delta: dt.timedelta) -> str:
    """A time moved by ``delta`` (whole seconds), written as it was (fraction, zone)."""
    moved = _parse(m[1]) + delta
    return f"{moved:%Y-%m-%dT%H:%M:%S}{m[2] or ''}{m[3]}"


def keep(runs: Mapping[str, Mapping[str, str]], into: Path = RUNS) -> None:
    """Writes each run's files into ``into/<name>/``, replacing what was there."""
    for name, files in runs.items():
        folder = into / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for file, text in files.items():
            (folder / file).write_text(text, encoding="utf-8")


# --- the command line ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """``[--render-only] [--no-screenshots] [--mermaid PATH]``."""
    parser = argparse.ArgumentParser(
        description="Regenerate the docs' examples and screenshots from real runs of the main job."
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="re-render from the committed runs in docs/runs/ (no platform, seconds)",
    )
    parser.add_argument(
        "--no-screenshots", action="store_true", help="leave the PNGs of docs/ as they are"
    )
    parser.add_argument(
        "--mermaid",
        type=Path,
        default=None,
        help="mermaid.min.js (npm package mermaid): draw the trend chart with it",
    )
    return parser.parse_args(argv)


def _say(lines: Iterable[str]) -> None:
    for line in lines:
        print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when everything was regenerated; 2 with one line on error."""
    args = parse_args(argv)
    if str(ROOT) not in sys.path:  # run as a script: the checkout's tests/ and scripts/
        sys.path.insert(0, str(ROOT))
    try:
        if not args.render_only:
            keep(run_examples())
            _say([f"kept {len(EXAMPLES)} runs in {RUNS.relative_to(ROOT)}/"])
        rendered = render_all()
        changed = write_documents(rendered)
        _say([f"rewrote {p.relative_to(ROOT)}" for p in changed] or ["no block changed"])
        if not args.no_screenshots:
            _say(f"wrote {p.relative_to(ROOT)}" for p in screenshots(rendered, args.mermaid))
    except DocsError as exc:
        print(f"generate_docs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
