"""``junit.xml`` for other tools, written with junitparser (not hand-built XML)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from ci_tools.phases import GateResult
from ci_tools.records import TestRecord


def write_junit(path: Path, gates: Sequence[GateResult], records: Sequence[TestRecord]) -> None:
    """One test suite per phase, one test case per record; skipped phases are empty suites
    with the reason as a property."""
    xml = JUnitXml(name="ci_tools")
    by_phase: dict[int, list[TestRecord]] = {}
    for record in records:
        by_phase.setdefault(record.phase, []).append(record)
    for gate in gates:
        suite = TestSuite(f"phase {gate.phase}: {gate.title}")
        suite.add_property("gate", gate.status)
        suite.add_property("reason", gate.reason)
        for record in by_phase.get(gate.phase, []):
            module, _, name = record.nodeid.partition("::")
            case = TestCase(
                name or record.nodeid,
                classname=module.removesuffix(".py").replace("/", "."),
                time=record.duration_s,
            )
            failure = record.failure
            if record.outcome == "failed" and failure is not None:
                case.result = [Failure(failure.message, failure.type)]
                case.system_err = failure.traceback
            elif record.outcome == "error" and failure is not None:
                case.result = [Error(failure.message, failure.type)]
                case.system_err = failure.traceback
            elif record.outcome in ("skipped", "not_run"):
                case.result = [Skipped(record.reason or record.outcome.replace("_", " "))]
            suite.append(case)  # type: ignore[no-untyped-call]  # add_testcase recounts: O(n²)
        suite.update_statistics()  # type: ignore[no-untyped-call]
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    xml.write(str(path), pretty=True)
