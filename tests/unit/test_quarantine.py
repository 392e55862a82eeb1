"""The quarantine file: entries in force and expired by date, patterns, one-line errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ci_tools._exceptions import ConfigError
from ci_tools.quarantine import load

TODAY = dt.date(2026, 12, 1)
FILE = """
[[quarantine]]
test = "tests/e2e/t.py::test_flaky*"
owner = "alice"
reason = "late first chunk, #12"
expires = 2027-01-15

[[quarantine]]
test = "tests/e2e/t.py::test_old"
owner = "bob"
reason = "fixed since"
expires = 2026-12-01
"""


def test_entries_split_by_expiry_and_match_ids_or_patterns(tmp_path: Path) -> None:
    """An entry is in force before its expiry date; on that date it has expired."""
    path = tmp_path / "quarantine.toml"
    path.write_text(FILE)
    found = load(path, TODAY)
    assert [e.test for e in found.active] == ["tests/e2e/t.py::test_flaky*"]
    assert [(e.test, e.owner) for e in found.expired] == [("tests/e2e/t.py::test_old", "bob")]
    assert found.entry_for("tests/e2e/t.py::test_flaky_stream[2]") is found.active[0]
    assert found.entry_for("tests/e2e/t.py::test_old") is None
    assert load(tmp_path / "absent.toml", TODAY).active == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[quarantine]]\ntest = 'x'\n", "entry 1 lacks owner, reason, expires"),
        (
            "[[quarantine]]\ntest='x'\nowner='a'\nreason='r'\nexpires='soon'\n",
            "expires must be a date such as 2027-01-15, got 'soon'",
        ),
        (
            "[[quarantine]]\ntest='x'\nowner='a'\nreason='r'\nexpires=2027-01-01\nwho='a'\n",
            "unknown key 'who'",
        ),
        ("quarantine = 3\n", "quarantine must be a list"),
        ("[[quarantine]\n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake is a ConfigError in one line that says what to fix."""
    path = tmp_path / "quarantine.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load(path, TODAY)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_worklog_names_quarantined_tests_and_expired_entries(tmp_path: Path) -> None:
    """A quarantined failure that did not count, and an expired entry, each have a line."""
    from ci_tools.config import parse  # noqa: PLC0415
    from ci_tools.diagnose import diagnose  # noqa: PLC0415
    from ci_tools.phases import evaluate_gate  # noqa: PLC0415
    from ci_tools.records import Failure, PhaseRecords  # noqa: PLC0415
    from ci_tools.report.markdown import Meta, render  # noqa: PLC0415
    from tests.fakes.records import make_record  # noqa: PLC0415

    path = tmp_path / "quarantine.toml"
    path.write_text(FILE)
    held = load(path, TODAY)
    config = parse({"phases": {"1": {"title": "One"}}})
    records = (
        make_record(
            "test_flaky_stream",
            file="tests/e2e/t.py",
            outcome="failed",
            failure=Failure("AssertionError", "late"),
        ),
        make_record("test_ok", file="tests/e2e/t.py"),
    )
    gate = evaluate_gate(1, config.phases[1], config, PhaseRecords(records, (), 0), quarantine=held)
    assert gate.met
    worklog = render(
        diagnose(config, [gate], records, None), None, Meta("local", "r", "c", "w"), quarantine=held
    )
    assert (
        "- `tests/e2e/t.py::test_flaky_stream`: quarantined until 2027-01-15 (alice: late first "
        "chunk, #12); ran, not counted for its gate"
    ) in worklog
    assert (
        "- `tests/e2e/t.py::test_old`: quarantine expired 2026-12-01 (bob: fixed since)" in worklog
    )
