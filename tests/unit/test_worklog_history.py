"""What history adds to the worklog, pure: the trend chart and the commits since the last
healthy run, infrastructure-looking ones first."""

from __future__ import annotations

from ci_tools.history.analysis import TrendPoint, phase_trend, sparkline
from ci_tools.report.changes import SEPARATOR, parse_log, ranked
from ci_tools.report.markdown import trend_chart
from tests.unit.test_history import run


def test_the_trend_is_a_mermaid_xychart_with_one_line_a_phase() -> None:
    """Two runs or more: an xychart-beta block, an x label a run, a line a phase in its own
    named colour, a phase that failed every test at 0; one run: no chart."""
    points = [
        TrendPoint("r1", "2026-12-01T08:00:00.000Z", {1: 1.0, 2: 1.0}),
        TrendPoint("r2", "2026-12-01T09:30:00.000Z", {1: 0.625, 2: 0.0}),
    ]
    chart = trend_chart(points)
    assert chart.startswith("```mermaid\n%%{init:")
    assert "xychart-beta" in chart
    assert 'x-axis ["12-01 08:00", "12-01 09:30"]' in chart
    assert "    line [100, 62]" in chart
    assert "    line [100, 0]" in chart
    assert chart.endswith("```\n\nphase 1 blue, phase 2 orange.")
    assert trend_chart(points[:1]) == ""


def test_a_phase_that_did_not_run_is_never_drawn_at_zero() -> None:
    """A phase with no pass rate in a run is left out of the chart (a Mermaid line cannot
    break) and listed with "not run" where it did not run; a phase that ran in none of the
    runs is named as not run; neither is a line at 0."""
    points = [
        TrendPoint("r1", "2026-12-01T08:00:00.000Z", {1: 1.0, 2: 1.0, 3: None}),
        TrendPoint("r2", "2026-12-01T09:30:00.000Z", {1: 0.625, 2: None, 3: None}),
    ]
    chart = trend_chart(points)
    assert chart.count("    line [") == 1
    assert "    line [100, 62]" in chart
    assert "line [100, 0]" not in chart
    assert "phase 1 blue." in chart
    assert "- phase 2, oldest run first: 100.0%, not run" in chart
    assert chart.endswith("Phase 3: not run in these runs.")
    only_gaps = trend_chart([points[1], points[1]])
    assert "```mermaid" in only_gaps  # phase 1 ran in both
    assert "Phases 2–3: not run in these runs." in only_gaps


def test_phase_trend_counts_passed_failed_and_errors_per_phase() -> None:
    """Each run's pass rate per phase; a phase without counted results is None."""
    runs = [run(1, 0), run(2, 10)]
    results = {
        "r1": [(1, "passed"), (1, "failed"), (2, "passed")],
        "r2": [(1, "passed"), (2, "not_run")],
    }
    points = phase_trend(runs, results, [1, 2])
    assert [p.rates for p in points] == [{1: 0.5, 2: 1.0}, {1: 1.0, 2: None}]
    assert sparkline([0.0, 0.5, 1.0, None]) == "▁▅█·"


def test_commits_since_the_last_healthy_run_put_infrastructure_first() -> None:
    """A commit touching a deploy file, a workflow or env names comes before a code one."""
    log = (
        f"{SEPARATOR}aaa1111\tfix typo in README\nREADME.md\n"
        f"{SEPARATOR}bbb2222\tbump worker memory\ndeploy/backend.yaml\n"
        f"{SEPARATOR}ccc3333\trefactor agent tools\nagent/tools.py\n"
        f"{SEPARATOR}ddd4444\tci: pin actions\n.github/workflows/e2e.yml\n"
    )
    commits = parse_log(log)
    assert [c.sha for c in commits] == ["aaa1111", "bbb2222", "ccc3333", "ddd4444"]
    assert [c.sha for c in ranked(commits)] == ["bbb2222", "ddd4444", "aaa1111", "ccc3333"]
    assert [c.sha for c in ranked(commits, limit=1)] == ["bbb2222"]


def test_the_commits_since_the_last_healthy_run_are_one_list_item_each() -> None:
    """The worklog's section names the last healthy run's commit and lists each commit on a
    line of its own, infrastructure marked."""
    from ci_tools.config import parse  # noqa: PLC0415
    from ci_tools.diagnose import diagnose  # noqa: PLC0415
    from ci_tools.report.changes import Commit  # noqa: PLC0415
    from ci_tools.report.lookback import build_view  # noqa: PLC0415
    from ci_tools.report.markdown import Meta, render  # noqa: PLC0415
    from tests.unit.test_history import current  # noqa: PLC0415

    config = parse({})
    diagnosis = diagnose(config, (), (), None)
    healthy = run(1, 590, commit="abc123")
    view = build_view(
        config, current=current(), records=(), diagnosis=diagnosis, past=[healthy], past_results=[]
    )
    commits = [
        Commit("bbb2222", "bump worker memory", ("deploy/backend.yaml",)),
        Commit("aaa1111", "fix typo", ("README.md",)),
    ]
    worklog = render(
        diagnosis, None, Meta("local", "r0", "c0", "w"), lookback=view, changes=commits
    )
    section = worklog.split("## What changed in code since the last healthy run")[1]
    lines = section.strip().splitlines()
    assert lines[0].startswith("Commits after `abc123`")
    assert lines[2] == "- 🏗️ `bbb2222` bump worker memory (deploy/backend.yaml)"
    assert lines[3] == "- `aaa1111` fix typo (README.md)"
