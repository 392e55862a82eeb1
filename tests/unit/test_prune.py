"""``ci-tools prune``: old run directories under reports/ and old local platform logs go,
the run ``latest`` points at and everything that is not a run stay."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ci_tools import cli
from ci_tools import config as cfg
from ci_tools._exceptions import ConfigError
from ci_tools.rundir import prune

DAY = 86_400.0
NOW = 1_800_000_000.0
PYPROJECT = """
[tool.ci_tools.environments.local]
stack_file = ".stack/stack.json"
[tool.ci_tools.phases.1]
title = "One"
"""


def make_run(reports: Path, name: str, age_days: float, now: float = NOW) -> Path:
    """A run directory whose files were last written ``age_days`` before ``now``."""
    run = reports / name
    run.mkdir(parents=True)
    for file in ("run.json", "phase1.jsonl", "phase1.gate.json"):
        (run / file).write_text("{}\n")
        os.utime(run / file, (now - age_days * DAY,) * 2)
    os.utime(run, (now - age_days * DAY,) * 2)
    return run


def left(reports: Path) -> list[str]:
    """What is left in the reports folder, by name."""
    return sorted(p.name for p in reports.iterdir())


def log_line(when: float, message: str) -> str:
    """A Cloud-Logging-shaped entry as the platform writes it."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + ".123456Z"
    return json.dumps({"severity": "INFO", "message": message, "timestamp": stamp}) + "\n"


def project(tmp_path: Path, retention: str = "") -> Path:
    """A project root with a local platform under .stack and the given retention table."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.ci_tools]\n{PYPROJECT}{retention}")
    return tmp_path


def test_the_newest_runs_are_kept_and_the_older_removed(tmp_path: Path) -> None:
    """keep_runs 3 of five runs, all recent: the three newest stay, the two oldest go."""
    reports = tmp_path / "reports"
    for age, name in enumerate(["r5", "r4", "r3", "r2", "r1"]):
        make_run(reports, name, age_days=age)
    found = prune.plan(reports, keep_runs=3, keep_days=30, now=NOW)
    assert sorted(p.name for p in found.runs) == ["r1", "r2"]
    prune.apply(found)
    assert left(reports) == ["r3", "r4", "r5"]


def test_runs_older_than_the_days_are_removed(tmp_path: Path) -> None:
    """keep_days 7: runs written within 7 days stay, the older go, however few runs there are."""
    reports = tmp_path / "reports"
    make_run(reports, "new", age_days=1)
    make_run(reports, "week", age_days=6.9)
    make_run(reports, "old", age_days=7.1)
    make_run(reports, "older", age_days=40)
    prune.apply(prune.plan(reports, keep_runs=50, keep_days=7, now=NOW))
    assert left(reports) == ["new", "week"]


def test_the_run_latest_points_at_is_never_removed(tmp_path: Path) -> None:
    """latest's run stays though it is past both bounds; the link itself stays too."""
    reports = tmp_path / "reports"
    make_run(reports, "old", age_days=90)
    make_run(reports, "new", age_days=0)
    (reports / "latest").symlink_to("old")
    prune.apply(prune.plan(reports, keep_runs=1, keep_days=1, now=NOW))
    assert left(reports) == ["latest", "new", "old"]
    assert (reports / "latest").resolve() == (reports / "old").resolve()


def test_what_is_no_run_is_never_removed(tmp_path: Path) -> None:
    """An old folder without a run's files, a hidden one, the store's file, a link to a run
    and a run outside reports/ all stay."""
    reports = tmp_path / "reports"
    outside = make_run(tmp_path, "outside", age_days=90)
    make_run(reports, "run", age_days=90)
    make_run(reports, ".hidden", age_days=90)
    (reports / "screenshots").mkdir()
    (reports / "screenshots" / "page.png").write_bytes(b"png")
    os.utime(reports / "screenshots", (NOW - 90 * DAY,) * 2)
    (reports / "history.db").write_bytes(b"sqlite")
    (reports / "linked").symlink_to(outside)
    prune.apply(prune.plan(reports, keep_runs=1, keep_days=1, now=NOW + 1000 * DAY))
    assert left(reports) == [".hidden", "history.db", "linked", "screenshots"]
    assert (outside / "run.json").exists()


def test_old_entries_of_a_stopped_platform_logs_go(tmp_path: Path) -> None:
    """A stopped platform's JSON log loses the entries older than the days (and its runs);
    a log not written since goes whole; a running platform's logs are left alone."""
    stopped = tmp_path / ".stack" / "e2e" / "logs"
    running = tmp_path / ".stack" / "logs"
    for folder in (stopped, running):
        folder.mkdir(parents=True)
        (folder / "backend.jsonl").write_text(
            log_line(NOW - 40 * DAY, "old") + "not json\n" + log_line(NOW - DAY, "new")
        )
        os.utime(folder / "backend.jsonl", (NOW - DAY,) * 2)
        (folder / "redis.log").write_text("old text\n")
        os.utime(folder / "redis.log", (NOW - 40 * DAY,) * 2)
    (tmp_path / ".stack" / "stack.json").write_text("{}")
    logs = prune.platform_logs(tmp_path / ".stack", "stack.json")
    assert logs == [stopped]
    found = prune.plan(tmp_path / "reports", keep_runs=50, keep_days=30, now=NOW, logs=logs)
    prune.apply(found)
    assert (stopped / "backend.jsonl").read_text() == "not json\n" + log_line(NOW - DAY, "new")
    assert not (stopped / "redis.log").exists()
    assert (running / "backend.jsonl").read_text().count("\n") == 3
    assert (running / "redis.log").exists()


def test_the_logs_keep_what_the_kept_runs_span(tmp_path: Path) -> None:
    """Entries written while a kept run ran stay, though the runs pruned were newer than
    the days: the logs follow the runs kept."""
    reports = tmp_path / "reports"
    make_run(reports, "pruned", age_days=5)
    make_run(reports, "kept", age_days=2)
    logs = tmp_path / ".stack" / "e2e" / "logs"
    logs.mkdir(parents=True)
    entries = [log_line(NOW - 5 * DAY, "pruned run"), log_line(NOW - 2 * DAY, "kept run")]
    (logs / "backend.jsonl").write_text("".join(entries))
    os.utime(logs / "backend.jsonl", (NOW - 2 * DAY,) * 2)
    prune.apply(prune.plan(reports, keep_runs=1, keep_days=30, now=NOW, logs=[logs]))
    assert (logs / "backend.jsonl").read_text() == entries[1]


def test_a_dry_run_lists_what_would_go_and_removes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints each run that would go and a summary; every folder stays."""
    root = project(tmp_path)
    reports = root / "reports"
    now = time.time()
    for age, name in enumerate(["r3", "r2", "r1"]):
        make_run(reports, name, age_days=age, now=now)
    assert cli.main(["--root", str(root), "prune", "--keep-runs", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"would remove {reports / 'r2'}",
        f"would remove {reports / 'r1'}",
        "ci-tools: would prune 2 runs, keeping the newest 1 runs within 30 days",
    ]
    assert left(reports) == ["r1", "r2", "r3"]


def test_a_prune_says_one_line_and_nothing_when_nothing_went(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prune that removes prints one line with the count; one that removes nothing, none."""
    root = project(tmp_path, "[tool.ci_tools.retention]\nkeep_runs = 2\n")
    now = time.time()
    for age, name in enumerate(["r3", "r2", "r1"]):
        make_run(root / "reports", name, age_days=age, now=now)
    assert cli.main(["--root", str(root), "prune"]) == 0
    assert capsys.readouterr().out == (
        "ci-tools: pruned 1 run, keeping the newest 2 runs within 30 days\n"
    )
    assert cli.main(["--root", str(root), "prune"]) == 0
    assert capsys.readouterr().out == ""
    assert left(root / "reports") == ["r2", "r3"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep-runs", "0"], "argument --keep-runs: '0' is not a positive whole number"),
        (["--keep-runs", "two"], "argument --keep-runs: 'two' is not a positive whole number"),
        (["--keep-days", "-1"], "argument --keep-days: '-1' is not a positive number of days"),
        (["--keep-days", "nan"], "argument --keep-days: 'nan' is not a positive number of days"),
    ],
)
def test_a_bad_bound_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """A bound that is no positive number: exit 2, one line on stderr, nothing removed."""
    root = project(tmp_path)
    make_run(root / "reports", "old", age_days=400, now=time.time())
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--root", str(root), "prune", *args])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {message}")
    assert left(root / "reports") == ["old"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("keep_runs = 0", "retention.keep_runs: Input should be greater than or equal to 1"),
        ("keep_runs = true", "retention.keep_runs: Input should be a valid integer (got True)"),
        ("keep_days = 0", "retention.keep_days: Input should be greater than 0"),
        ("keep_days = 'x'", "retention.keep_days: Input should be a valid number (got 'x')"),
        ("keep = 3", "retention.keep: Extra inputs are not permitted (got 3)"),
    ],
)
def test_a_bad_retention_table_is_a_one_line_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    """A bad [tool.ci_tools.retention]: exit 2, one line naming the key, nothing removed."""
    root = project(tmp_path, f"[tool.ci_tools.retention]\n{table}\n")
    make_run(root / "reports", "old", age_days=400, now=time.time())
    assert cli.main(["--root", str(root), "prune"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert left(root / "reports") == ["old"]


def test_the_retention_defaults_are_fifty_runs_and_thirty_days() -> None:
    """Without [tool.ci_tools.retention]: the newest 50 runs, written within 30 days."""
    retention = cfg.parse({}).retention
    assert (retention.keep_runs, retention.keep_days) == (50, 30)


def test_the_core_refuses_bounds_that_would_remove_every_run() -> None:
    """``plan`` called with no run to keep (or no days) raises ConfigError, removing nothing."""
    with pytest.raises(ConfigError, match="keep at least 1 run"):
        prune.check(0, 30)
    with pytest.raises(ConfigError, match="give a positive number"):
        prune.check(5, float("nan"))


def test_a_prune_applies_the_run_stores_retention_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run store in the reports folder: of 25 runs a day apart, keep_runs 20 leaves the
    oldest 5 without their per-test rows (their summaries stay); one line says so, a second
    prune says nothing. Without a store, a prune creates none."""
    from ci_tools.environment import HISTORY_URL, sqlite_url  # noqa: PLC0415
    from ci_tools.history.model import ResultRow, RunRow  # noqa: PLC0415
    from ci_tools.history.store import open_store  # noqa: PLC0415 - SQLAlchemy loads slowly

    monkeypatch.delenv(HISTORY_URL)  # the store in the project's reports folder
    root = project(tmp_path, "[tool.ci_tools.history]\nkeep_runs = 20\n")
    db = root / "reports" / "history.db"
    assert cli.main(["--root", str(root), "prune"]) == 0
    assert not db.exists()
    db.parent.mkdir(parents=True, exist_ok=True)
    store = open_store(sqlite_url(db))
    try:
        for n in range(25):
            started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - n * DAY))
            run = RunRow(
                f"r{n}", 1, "local", "c", {}, started, started, "healthy", "none", None, (1,),
                False, False, False, None,
            )  # fmt: skip
            store.record(run, [ResultRow("t.py::a", "t.py", 1, None, (), "passed", 0.1)])
    finally:
        store.close()
    capsys.readouterr()
    assert cli.main(["--root", str(root), "prune"]) == 0
    assert capsys.readouterr().out == (
        "ci-tools: the run store: pruned the per-test rows of 5 runs (5 results), keeping "
        "per-test rows of the newest 20 runs within 90 days, summaries for 730 days\n"
    )
    assert cli.main(["--root", str(root), "prune"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("keep_runs = 5", "keep_runs = 5 keeps fewer runs' results than the report reads"),
        ("keep_days = 0", "history.keep_days: Input should be greater than 0"),
        ("keep_summaries_days = 30", "keep_summaries_days = 30 is shorter than keep_days = 90"),
    ],
)
def test_a_bad_history_retention_is_a_one_line_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    """A [tool.ci_tools.history] retention that would keep less than the report reads, or
    summaries shorter than per-test rows: exit 2, one line naming it, nothing removed."""
    root = project(tmp_path, f"[tool.ci_tools.history]\n{table}\n")
    make_run(root / "reports", "old", age_days=400, now=time.time())
    assert cli.main(["--root", str(root), "prune"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err
    assert left(root / "reports") == ["old"]
