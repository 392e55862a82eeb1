"""The fault matrix, the acceptance test of the diagnosis: the real main job (``nox -s e2e``)
for the healthy platform, each fault and pairs of them, judged as a reviewer reads the run.

Each case asserts the verdict, the phase whose gate stopped the run, the causes named (as
headlines) and their class, the class of every failure, the escalation the brief's rules
give, the seconds to verdict, the worklog's evidence, every selected test accounted for, and
no secret in any file of the run (the cases are in ``fault_matrix.py``, shared with
``benchmarks/fault_matrix.py``, which prints them as a table with precision and recall).
"""

from __future__ import annotations

import pytest

from tests.integration.fault_matrix import CASES, Case, expectation_misses, run_case

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
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
