"""The fault matrix, the acceptance test of the diagnosis: the real main job (``nox -s e2e``)
for the healthy platform, each fault of the platform (infrastructure and code), each defect of
the suite (run from a broken copy) and mixes of them, judged as a reviewer reads the run.

Each case asserts the verdict, the phase whose gate stopped the run, the causes named (as
headlines) and their class, the class of every failure, the escalation the brief's rules
give, the seconds to verdict, the worklog's evidence, every selected test accounted for, and
no secret in any file of the run (the cases are in ``fault_matrix.py``, shared with
``benchmarks/fault_matrix.py``, which prints them as a table with precision and recall).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.fault_matrix import CASES, Case, expectation_misses, run_case

pytestmark = pytest.mark.integration


# Cases the diagnosis does not meet yet: none (each gets an xfail naming why when one appears).
NOT_YET: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[c.name]))
        if c.name in NOT_YET
        else c
        for c in CASES
    ],
    ids=[case.name for case in CASES],
)
def test_the_main_job_diagnoses_the_fault_as_a_reviewer_expects(case: Case) -> None:
    """The run's verdict, stopping phase, causes, classes, escalation, time to verdict,
    accounting and secrets are what the injected fault implies."""
    result = run_case(case)
    misses = expectation_misses(result)
    assert not misses, f"{case.name} ({result.run_dir}):\n" + "\n".join(misses)


def test_the_accounting_check_names_a_lost_record_and_a_reasonless_not_run() -> None:
    """The matrix's own check can fail: a selected test without a record, a not-run test
    without its reason and gate counts off the selection are each named."""
    from ci_tools.phases import GateResult  # noqa: PLC0415
    from ci_tools.records import Selected  # noqa: PLC0415
    from tests.fakes.records import make_record  # noqa: PLC0415
    from tests.integration.fault_matrix import PhaseRun, accounting_misses  # noqa: PLC0415

    gate = GateResult(phase=1, title="One", status="not_met", reason="", passed=1, not_run=1)
    phase = PhaseRun(
        number=1,
        gate=gate,
        records=(make_record("a"), make_record("b", outcome="not_run")),
        selected=(
            Selected("t.py::a", "t.py", 1),
            Selected("t.py::b", "t.py", 2),
            Selected("t.py::c", "t.py", 3),
        ),
        has_selected_file=True,
    )
    assert accounting_misses(phase) == [
        "phase 1: 1 selected, no record",
        "phase 1: 1 not run without a reason",
        "phase 1: gate counts 2, selection 3",
    ]


def test_a_mixed_case_expects_each_failure_under_its_own_class() -> None:
    """In a mix, the failed test its node id names is expected under that class and every
    other under the case's; each expected class is one the causes may be of."""
    from tests.integration.fault_matrix import BY_NAME, CACHE_PROBE  # noqa: PLC0415

    case = BY_NAME["handler_error+redis_down"]
    probe = f"tests/e2e/phase1_infrastructure/test_dependencies.py::{CACHE_PROBE}"
    assert case.expected_class(probe) == "application"
    assert case.expected_class("tests/e2e/phase1_infrastructure/x.py::test_ready") == (
        "infrastructure"
    )
    assert case.classes == {"application", "infrastructure"}
    assert case.mixed
    assert not BY_NAME["redis_down"].mixed
    assert not BY_NAME["fixture_error"].mixed


def test_the_headline_check_names_an_unnamed_part_and_accepts_any_wording() -> None:
    """A headline names a part when it holds each of its words (one of a word's alternatives,
    any case); a case whose headlines do not is a miss naming what was expected."""
    from tests.integration.fault_matrix import (  # noqa: PLC0415
        BY_NAME,
        HANDLER,
        ORDER,
        CaseResult,
        unnamed_parts,
    )

    assert HANDLER.named_by("POST /api/threads answers 500 (AttributeError in the handler)")
    assert not HANDLER.named_by("POST /api/threads answers 503")
    assert ORDER.named_by("Agent events out of ORDER: agent_thinking after tool_executing")
    assert ORDER.named_by("agent_thinking arrives after tool_executing")
    assert not ORDER.named_by("Wrong content or behaviour")

    case = BY_NAME["handler_error+redis_down"]

    def result(*headlines: str) -> CaseResult:
        verdict = {"headlines": list(headlines), "causes": []}
        return CaseResult(case, 1.0, 1, "", Path("."), verdict, (), ())

    both = result("Redis unreachable (connection refused)", "POST /api/threads: HTTP 500")
    assert unnamed_parts(both) == []
    assert unnamed_parts(result("Redis unreachable (connection refused)")) == [
        "no headline names /api/threads + 500: ['Redis unreachable (connection refused)']"
    ]


def test_one_defect_split_over_several_causes_is_a_miss() -> None:
    """A case whose defects show as more causes than it has defects is a miss naming them; as
    many causes as defects is none."""
    from tests.integration.fault_matrix import BY_NAME, CaseResult, cause_misses  # noqa: PLC0415

    case = BY_NAME["contract_change"]
    titles = ["Field 'content' missing from GET /api/threads/{id}/messages", "Field 'content' x"]

    def result(*shown: str) -> CaseResult:
        causes = [{"title": title, "klass": "application"} for title in shown]
        verdict = {"headlines": list(shown), "causes": causes}
        return CaseResult(case, 1.0, 1, "", Path("."), verdict, (), ())

    assert cause_misses(result(titles[0])) == []
    assert cause_misses(result(*titles)) == [f"2 causes, expected at most 1: {titles}"]


def test_an_uncollected_module_is_accounted_beside_the_selection() -> None:
    """A module that could not be collected has no selected test: its record (under its path)
    is counted beside the selection, and a gate that counts it is in balance."""
    from ci_tools.phases import GateResult  # noqa: PLC0415
    from ci_tools.records import Failure, Selected  # noqa: PLC0415
    from tests.fakes.records import make_record  # noqa: PLC0415
    from tests.integration.fault_matrix import PhaseRun, accounting_misses  # noqa: PLC0415

    broken = make_record(
        "",
        nodeid="tests/e2e/phase2_critical/test_x.py",
        outcome="error",
        failure=Failure("ImportError", "cannot import name 'y'", frame="collection"),
    )

    def phase(errors: int) -> PhaseRun:
        gate = GateResult(phase=2, title="Two", status="met", reason="", passed=1, errors=errors)
        return PhaseRun(
            2, gate, (make_record("a"), broken), (Selected("t.py::a", "t.py", 1),), True
        )

    assert accounting_misses(phase(errors=1)) == []
    assert accounting_misses(phase(errors=0)) == [
        "phase 2: gate counts 1, selection 1 and 1 uncollected module(s)"
    ]
