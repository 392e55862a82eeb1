"""Gates are pure functions of records: pass rate, criteria, budget, each with its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_tools import config as cfg
from ci_tools import environment
from ci_tools._exceptions import ConfigError
from ci_tools.phases import aggregate, evaluate_gate, format_value, skipped_gate
from ci_tools.records import Measurement, PhaseRecords, TestRecord
from tests.fakes.records import make_record

CONFIG = cfg.parse(
    {
        "criteria": {
            "db_ms": {"title": "Database latency", "unit": "ms", "max": 3000},
            "p1": {
                "title": "P1 pass rate",
                "unit": "%",
                "source": "pass_rate",
                "priority": "P1",
                "min": 0.8,
            },
        },
        "phases": {"1": {"title": "Infrastructure", "criteria": ["db_ms", "p1"], "budget_s": 60}},
    }
)


def record(
    name: str,
    outcome: str = "passed",
    priority: str | None = "P1",
    areas: tuple[str, ...] = (),
    db_ms: float | None = 10.0,
) -> TestRecord:
    """A record as the plugin writes it."""
    measurements = (Measurement("db_ms", db_ms),) if db_ms is not None else ()
    return make_record(
        name,
        outcome=outcome,
        priority=priority,
        areas=areas,
        measurements=measurements,
    )


def judge(*records: TestRecord, hung: tuple[str, ...] = (), exhausted: bool = False) -> str:
    """The gate's reason for these records."""
    found = PhaseRecords(records, hung, 0)
    return evaluate_gate(1, CONFIG.phases[1], CONFIG, found, budget_exhausted=exhausted).reason


def test_all_passing_within_targets_meets_the_gate() -> None:
    """Every test passed and every criterion holds: the gate is met."""
    gate = evaluate_gate(
        1, CONFIG.phases[1], CONFIG, PhaseRecords((record("a"), record("b")), (), 0)
    )
    assert gate.met
    assert gate.reason == "gate met"
    assert [(c.name, c.measured, c.met) for c in gate.criteria] == [
        ("db_ms", 10.0, True),
        ("p1", 1.0, True),
    ]


def test_failures_are_named_by_area_with_counts() -> None:
    """A low pass rate names the areas that failed, with failed/total counts."""
    reason = judge(
        record("a"),
        record("b", "failed", areas=("redis",)),
        record("c", "error", areas=("redis",)),
        record("d", areas=("redis",)),
    )
    assert reason.startswith("pass rate 50.0% (2/4), needs 100.0%; failing areas: redis 2/3")


def test_measured_values_are_shown_beside_their_targets() -> None:
    """A criterion over its limit is reported with the phase it was measured in:
    'Database latency 5,012 ms in phase 1, target < 3,000 ms'."""
    assert (
        judge(record("a", db_ms=5012)) == "Database latency 5,012 ms in phase 1, target < 3,000 ms"
    )


def test_an_unmeasured_criterion_fails_the_gate() -> None:
    """No measurement is not a pass: the criterion is named as not measured."""
    assert judge(record("a", db_ms=None)) == "Database latency not measured in phase 1"


def test_skipped_tests_do_not_count_and_no_run_is_no_pass() -> None:
    """Skips are left out of the pass rate; a phase where nothing ran does not pass."""
    assert judge(record("a"), record("b", "skipped", db_ms=None)) == "gate met"
    assert judge(record("s", "skipped", db_ms=None)).startswith("no test ran")


def test_p1_pass_rate_counts_only_p1_tests() -> None:
    """The pass-rate criterion looks at its priority only."""
    found = PhaseRecords((record("a"), record("b", "failed", priority="P3")), (), 0)
    gate = evaluate_gate(1, CONFIG.phases[1], CONFIG, found)
    assert [c.measured for c in gate.criteria if c.name == "p1"] == [1.0]


def test_budget_exhaustion_is_part_of_the_reason() -> None:
    """A phase stopped by its budget says so, with the number of hung tests."""
    reason = judge(record("a"), hung=("t.py::x",), exhausted=True)
    assert reason == "budget of 60 s ran out with 1 test(s) hung"


def test_skipped_phase_carries_the_blocking_reason() -> None:
    """A skipped phase's reason starts with the phase whose gate stopped the run."""
    blocker = evaluate_gate(
        1, CONFIG.phases[1], CONFIG, PhaseRecords((record("a", "failed", areas=("redis",)),), (), 0)
    )
    skipped = skipped_gate(2, CONFIG.phases[1], blocker)
    assert skipped.status == "skipped"
    assert skipped.reason == f"gate of phase 1 not met: {blocker.reason}"


@pytest.mark.parametrize(
    ("how", "expected"),
    [("max", 100.0), ("min", 1.0), ("mean", 50.5), ("p50", 50.5), ("p95", 95.05)],
)
def test_aggregates(how: str, expected: float) -> None:
    """Measured values reduce to one figure per criterion as configured."""
    assert aggregate([float(v) for v in range(1, 101)], how) == pytest.approx(expected)


def test_format_value() -> None:
    """Figures print with thousands separators and units; rates as percentages."""
    assert format_value(5012.4, "ms") == "5,012 ms"
    assert format_value(0.975, "%") == "97.5%"
    assert format_value(1.5, "ms") == "1.5 ms"


def test_workers_follow_the_waiting_within_the_caps() -> None:
    """Unknown durations: the phase's workers. Known: one slot per three quarters of the
    longest test's worth of waiting (at least a quarter second), capped by the phase and the
    environment; little waiting runs one test at a time."""
    from ci_tools.runner import choose_workers  # noqa: PLC0415

    config = cfg.parse(
        {
            "environments": {"local": {}, "staging": {"max_workers": 4}},
            "phases": {"1": {"title": "One", "workers": 2, "max_workers": 8}},
        }
    )
    assert choose_workers(config, 1, "local", [])[0] == 2
    assert choose_workers(config, 1, "local", [5.0] * 8)[0] == 8  # 40 s, the longest 5 s
    assert choose_workers(config, 1, "local", [4.0] + [1.0] * 14)[0] == 6  # 18 s / 3 s
    assert choose_workers(config, 1, "local", [0.1] * 25)[0] == 8  # 2.5 s of short tests
    assert choose_workers(config, 1, "local", [0.1] * 6)[0] == 3  # 0.6 s: three quarters
    assert choose_workers(config, 1, "local", [0.05] * 4)[0] == 0  # 0.2 s: one at a time
    assert choose_workers(config, 1, "local", [9.0, 1.0, 1.0])[0] == 2  # one long test
    assert choose_workers(config, 1, "staging", [5.0] * 8)[0] == 4  # the environment's cap
    _, why = choose_workers(config, 1, "local", [5.0] * 8)
    assert why == "last run: 40.0 s of tests, the longest 5.0 s"


def test_a_phase_gets_the_runs_memory_less_the_runner_and_the_phase_started_ahead() -> None:
    """A phase's share of ``memory_mb``: less what the runner holds and, when a phase is
    started ahead while it runs, as much again as the phase's pytest holds; never below 1;
    0 (no bound) stays 0. The go carries it to the phase's pytest."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    import psutil  # noqa: PLC0415

    from ci_tools import go  # noqa: PLC0415
    from ci_tools.go import MIB  # noqa: PLC0415
    from ci_tools.runner.schedule import memory_share  # noqa: PLC0415

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; b = b'x' * 2**26; sys.stdin.read()"], stdin=-1
    )
    assert child.stdin is not None
    try:
        while psutil.Process(child.pid).memory_info().rss < 2**26:
            pass
        config = cfg.parse({"memory_mb": 4096})
        alone = memory_share(config, child.pid, ahead=False)
        runner = psutil.Process().memory_info().rss // MIB
        assert abs(alone - (4096 - runner)) <= 2
        assert 64 <= alone - memory_share(config, child.pid, ahead=True) <= 64 + 40
    finally:
        child.stdin.close()
        child.wait()
    assert memory_share(cfg.parse({"memory_mb": 0}), child.pid, ahead=True) == 0
    assert memory_share(cfg.parse({"memory_mb": 1}), child.pid, ahead=False) == 1
    read, write = os.pipe()
    go.send(write, go.Go(concurrency=8, start=2, memory_mb=700))
    assert go.receive(read) == go.Go(concurrency=8, start=2, memory_mb=700)
    with pytest.raises(ConfigError, match="memory_mb"):
        cfg.parse({"memory_mb": -1})


def test_a_backend_override_moves_the_websocket_with_it_on_the_same_host(tmp_path: Path) -> None:
    """CI_TOOLS_BACKEND_URL (a revision's tagged URL) also moves the WebSocket when the
    backend's host serves it (wss for https); an explicit WebSocket override still wins, and a
    WebSocket on another host stays where it is."""
    same = cfg.EnvironmentConfig(
        backend_url="https://api.example.test",
        websocket_url="wss://api.example.test/ws?v=2",
        auth_url="https://auth.example.test",
    )
    tagged = {"CI_TOOLS_BACKEND_URL": "https://run-7---api-abc.a.run.app"}
    urls = environment.resolve_urls("staging", same, tmp_path, tagged)
    assert urls["websocket"] == "wss://run-7---api-abc.a.run.app/ws?v=2"
    explicit = {**tagged, "CI_TOOLS_WEBSOCKET_URL": "wss://elsewhere.test/ws"}
    assert environment.resolve_urls("staging", same, tmp_path, explicit)["websocket"] == (
        "wss://elsewhere.test/ws"
    )
    apart = same.model_copy(update={"websocket_url": "wss://ws.example.test/ws"})
    assert environment.resolve_urls("staging", apart, tmp_path, tagged)["websocket"] == (
        "wss://ws.example.test/ws"
    )
