"""Untrusted text is inert in every output of the report: hostile failure messages, test ids,
log lines, cause titles, service names and URLs, rendered by the real renderers, give no
workflow command on stdout, break no block of the step summary, inject no heading, and
leave each annotation one line that reads back as written."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from ci_tools import config as cfg
from ci_tools.context.stage import summary as context_summary
from ci_tools.environment import sqlite_url
from ci_tools.history.model import ResultRow, RunRow
from ci_tools.history.store import open_store
from ci_tools.history.terminal import show
from ci_tools.report.github import error_annotations, gate_annotation
from ci_tools.report.markdown import LADDER, Meta, fit, render
from ci_tools.report.terminal import print_summary
from tests.fakes.inert import SECTIONS, structure, terminal_output
from tests.fakes.payloads import (
    Hostile,
    hostile_diagnosis,
    parse_workflow_command,
    to_html,
    workflow_commands,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = cfg.load(ROOT / "pyproject.toml")
META = Meta(env="staging", run_id="r1", commit="abc", artifact="reports/r1/worklog.md")
# The cases measured on the code before: a backend log line of a request to
# `GET /##[stop-commands]tok`; `::add-mask::` past column 80; an odd backtick before
# `</details>`; a lone carriage return before a heading; a parametrised id with markup.
MEASURED = Hostile(
    message="x" * 70 + " ::add-mask::secret ::stop-commands::tok a`b </details>",
    test_id="<details><summary>`x`</summary>\n# Deploy healthy",
    log="GET /##[stop-commands]tok answered 500",
    title="title\r# Deploy healthy",
    evidence="``` </details>\r\r## Summary",
)


@given(Hostile.strategy())
@example(MEASURED)
def test_stdout_carries_no_workflow_command(hostile: Hostile) -> None:
    """The terminal's lines hold no workflow command, whatever rich wraps."""
    diagnosis, context = hostile_diagnosis(CONFIG, hostile)
    worklog = f"reports/{hostile.file}/worklog.md"
    assert workflow_commands(terminal_output(diagnosis, context, worklog)) == []


def assert_built_structure(markdown: str, groups: int) -> None:
    """As many ``<details>`` opened and closed as groups rendered; only the template's
    headings."""
    opened, closed, headings = structure(markdown)
    assert (opened, closed) == (groups, groups)
    levels = [level for level, _ in headings]
    assert levels.count("1") == 1
    assert set(levels) <= {"1", "2"}
    sections = [text.strip() for level, text in headings if level == "2"]
    assert set(sections) <= SECTIONS
    assert len(sections) == len(set(sections))


@given(Hostile.strategy())
@example(MEASURED)
def test_the_summary_keeps_the_blocks_and_headings_it_built(hostile: Hostile) -> None:
    """GitHub's renderer finds exactly the ``<details>`` and headings the template built."""
    diagnosis, context = hostile_diagnosis(CONFIG, hostile)
    for rung in LADDER:
        groups = diagnosis.groups[: rung.max_groups]
        assert_built_structure(render(diagnosis, context, META, rung), len(groups))


@settings(max_examples=30)
@given(Hostile.strategy(), st.integers(min_value=2_000, max_value=12_000))
def test_a_truncated_summary_closes_the_blocks_it_cut(hostile: Hostile, limit: int) -> None:
    """Cut to fit the limit anywhere (in a log block, in a group), the summary closes what it
    cut open and points at the artifact outside any block."""
    diagnosis, context = hostile_diagnosis(CONFIG, hostile)
    line = dataclasses.replace(diagnosis.groups[0].logs[0], message="``` " + "y" * 200)
    groups = tuple(
        dataclasses.replace(g, logs=(line,) * 12, signature=f"{g.signature} {n}")
        for n, g in enumerate(diagnosis.groups * 20)
    )
    diagnosis = dataclasses.replace(diagnosis, groups=groups)
    summary, rung = fit(diagnosis, context, META, limit=limit)
    assert len(summary.encode()) <= limit
    opened, closed, _ = structure(summary)
    assert opened == closed
    if rung == len(LADDER):
        rendered = to_html(summary)
        assert re.search(r"<p>… truncated to fit .*</p>\n$", rendered)


@given(Hostile.strategy())
@example(MEASURED)
def test_annotations_are_one_line_each_and_read_back_as_written(hostile: Hostile) -> None:
    """Each ``::error`` is one line the runner reads back to the group's file, title and
    detail, as written."""
    diagnosis, _ = hostile_diagnosis(CONFIG, hostile)
    lines = error_annotations(diagnosis)
    assert lines
    for line, group in zip(lines, diagnosis.groups, strict=False):
        assert len(re.split(r"\r\n|\r|\n", line)) == 1
        name, properties, data = parse_workflow_command(line)
        assert name == "error"
        assert properties == {
            "file": group.file,
            "line": str(max(group.line, 1)),
            "title": f"{group.cause} ({group.failure_class})",
        }
        assert data.startswith(f"{len(group.tests)} test(s) in phase ")
        assert group.signature in data
    for judged in diagnosis.gates:
        gate = dataclasses.replace(judged, reason=hostile.message, title=hostile.title)
        name, properties, data = parse_workflow_command(gate_annotation(gate))
        assert (name, data) == ("error", hostile.message)
        assert properties["title"] == f"Phase {gate.phase} ({hostile.title}): gate not met"


def test_the_measured_log_line_no_longer_stops_commands() -> None:
    """The backend's ERROR line of `GET /##[stop-commands]tok` reaches `ci-tools context`'s
    stdout as text: the runner would read no command from it."""
    _, context = hostile_diagnosis(CONFIG, MEASURED)
    lines = context_summary(context)
    assert any("stop-commands]tok" in line for line in lines)
    assert workflow_commands("\n".join(lines)) == []


def test_ordinary_text_reads_as_before() -> None:
    """A failure without markup renders its message, test id and log line unchanged."""
    ordinary = Hostile(
        message="Error 111 connecting to 127.0.0.1:6379. Connection refused.",
        test_id="user-1",
        log="GET /api/threads answered 503",
        title="(Redis)",
        evidence="backend answered 503 to GET /api/threads",
        file="tests/e2e/phase1/test_health.py",
    )
    diagnosis, context = hostile_diagnosis(CONFIG, ordinary)
    worklog = render(diagnosis, context, META)
    assert "`tests/e2e/phase1/test_health.py::test_x[user-1]`" in worklog
    assert "Error 111 connecting to 127.0.0.1:6379. Connection refused." in worklog
    assert "2026-12-05T10:00:00Z ERROR backend: GET /api/threads answered 503" in worklog
    assert "\n```text\n" in worklog
    out = io.StringIO()
    print_summary(diagnosis, "reports/r1/worklog.md", Console(file=out, width=200))
    assert "    - backend answered 503 to GET /api/threads" in out.getvalue()


@pytest.mark.parametrize("nodeid", [MEASURED.message, MEASURED.test_id, "t.py::a\r::error::x"])
def test_history_lines_carry_no_workflow_command(tmp_path: Path, nodeid: str) -> None:
    """``ci-tools history`` shows a hostile node id, run id and commit as text."""
    url = sqlite_url(tmp_path / "history.db")
    store = open_store(url)
    try:
        for n, outcome in enumerate(("passed", "failed")):
            run = RunRow(
                f"::error::run{n}", 1, "staging", "##[stop-commands]c", {}, f"2026-12-0{n + 1}",
                f"2026-12-0{n + 1}", "unhealthy", "none", 1, (1,), False, False, False, None,
            )  # fmt: skip
            store.record(run, [ResultRow(nodeid, "t.py", 1, "P1", (), outcome, 0.1)])
    finally:
        store.close()
    text = show(url, "staging", 10, 10)
    assert "stop-commands]c" in text
    assert "error" in text
    assert workflow_commands(text) == []
