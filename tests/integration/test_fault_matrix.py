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
