"""The JUnit XML of a run for other tools, made with junitparser (not hand-built XML)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from xml.etree import ElementTree

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from ci_tools.phases import GateResult
from ci_tools.records import TestRecord

# Characters XML 1.0 cannot hold (C0 controls but tab, newline and return; lone surrogates;
# U+FFFE/U+FFFF): a test's output may carry any of them (an escape sequence, a NUL).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    """``text`` with what XML cannot hold shown as ``\\xNN`` instead of breaking the file."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def junit_xml(gates: Sequence[GateResult], records: Sequence[TestRecord]) -> str:
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
                case.result = [Failure(_xml(failure.message), failure.type)]
                case.system_err = _xml(failure.traceback)
            elif record.outcome == "error" and failure is not None:
                case.result = [Error(_xml(failure.message), failure.type)]
                case.system_err = _xml(failure.traceback)
            elif record.outcome in ("skipped", "not_run"):
                case.result = [Skipped(_xml(record.reason or record.outcome.replace("_", " ")))]
            suite.append(case)  # type: ignore[no-untyped-call]  # add_testcase recounts: O(n²)
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]  # each suite's, then the sums
    # Indented by ElementTree in linear time (junitparser's pretty=True reparses the whole
    # document with minidom: a second on a big run), text of failures left as it was.
    ElementTree.indent(xml._elem)  # junitparser gives its tree no public handle
    written = io.BytesIO()
    xml.write(written)
    return written.getvalue().decode("utf-8")
