"""A test module that cannot be collected is a record of its own (outcome error, frame
"collection", the exception naming what is missing), and the phase's other tests run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci_tools import config, runner
from ci_tools._exceptions import CIToolsError
from tests.plugin.conftest import PYPROJECT, at_once, read_lines, run_phase1, test_records
from tests.plugin.test_runner import ci_tools

GOOD = """
import pytest
pytestmark = pytest.mark.phase(1)
def test_login(): pass
def test_chat(): pass
"""
HELPERS = """
def post_json(url):
    return url
"""
BROKEN = """
import pytest
from helpers import post_json, poll_events
pytestmark = pytest.mark.phase(1)
def test_events(): pass
"""


def write_phase(pytester: pytest.Pytester, folder: str = "") -> Path:
    """A good module, a module importing a name its helper module lacks, and the helper."""
    where = pytester.mkdir(folder) if folder else pytester.path
    for name, source in (("test_good", GOOD), ("test_broken", BROKEN), ("helpers", HELPERS)):
        (where / f"{name}.py").write_text(source)
    return where


def collection_records(path: Path) -> list[dict[str, Any]]:
    """Every collection error's record line in a records file (each one, duplicates too)."""
    return [
        line
        for line in read_lines(path)
        if line["event"] == "test"
        and line["failure"] is not None
        and line["failure"].get("frame") == "collection"
    ]


def assert_broken_module_recorded(record: dict[str, Any], nodeid: str, phase: int) -> None:
    """The broken module's record: an ImportError naming the missing name and the module it
    was wanted from, at the import line, with nothing the module's tests would have had."""
    assert record["nodeid"] == nodeid
    assert record["file"] == nodeid
    assert (record["outcome"], record["phase"]) == ("error", phase)
    assert (record["priority"], record["areas"], record["markers"]) == (None, [], [])
    failure = record["failure"]
    assert failure["type"] == "ImportError"
    assert "cannot import name 'poll_events' from 'helpers'" in failure["message"]
    line = BROKEN.splitlines().index("from helpers import post_json, poll_events") + 1
    assert failure["where"] == f"{nodeid}:{line} in <module>"
    assert "library" not in failure  # the suite's own import line raised


@pytest.mark.parametrize("mode", ["in-process", "xdist", "forked"])
def test_a_module_that_cannot_be_imported_is_one_record_and_the_rest_run(
    pytester: pytest.Pytester, mode: str
) -> None:
    """In-process, under xdist (every worker collects: the controller hears the error from
    each) and forked workers: one record for the broken module, the other tests recorded."""
    write_phase(pytester)
    args = ("--continue-on-collection-errors", "--phase", "1", "--run-dir", "out")
    if mode == "in-process":
        result = pytester.runpytest(*args, "-p", "no:cacheprovider")
    else:
        result = pytester.runpytest_subprocess(*at_once(mode, 2), *args, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    path = pytester.path / "out" / "phase1.jsonl"
    errors = collection_records(path)
    assert len(errors) == 1
    assert_broken_module_recorded(errors[0], "test_broken.py", 1)
    outcomes = {nodeid: r["outcome"] for nodeid, r in test_records(path).items()}
    assert outcomes == {
        "test_broken.py": "error",
        "test_good.py::test_login": "passed",
        "test_good.py::test_chat": "passed",
    }


def test_a_collection_error_is_recorded_even_where_pytest_stops_at_it(
    pytester: pytest.Pytester,
) -> None:
    """Without ``--continue-on-collection-errors`` pytest runs nothing, and the record still
    names why (the runner passes the option; a user's own ``pytest`` may not)."""
    write_phase(pytester)
    result = run_phase1(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    errors = collection_records(pytester.path / "out" / "phase1.jsonl")
    assert [e["nodeid"] for e in errors] == ["test_broken.py"]


@pytest.mark.parametrize(
    ("source", "kind", "says"),
    [
        ("import no_such_package\n", "ModuleNotFoundError", "No module named 'no_such_package'"),
        ("def test_x(:\n    pass\n", "SyntaxError", "(test_bad.py, line 1)"),
        ("VALUE = undefined_name\n", "NameError", "name 'undefined_name' is not defined"),
    ],
)
def test_each_kind_of_collection_error_names_what_is_wrong(
    pytester: pytest.Pytester, source: str, kind: str, says: str
) -> None:
    """A missing package, a syntax error (with its file and line, as Python says it) and a
    module-level NameError each give their type and message, placed in the module."""
    pytester.makepyfile(test_bad=source)
    run_phase1(pytester, "--continue-on-collection-errors")
    errors = collection_records(pytester.path / "out" / "phase1.jsonl")
    assert len(errors) == 1
    failure = errors[0]["failure"]
    assert failure["type"] == kind
    assert says in failure["message"]
    assert failure["where"].startswith("test_bad.py:1")
    assert failure["frame"] == "collection"


def write_project(pytester: pytest.Pytester) -> None:
    """The conftest's project, its phase 1 a folder holding the broken module."""
    text = PYPROJECT.format(url="http://127.0.0.1:9", budget=30, workers=2)
    pytester.makefile(".toml", pyproject=text.replace('["test_one.py"]', '["phase1"]'))
    write_phase(pytester, "phase1")


def test_the_runner_runs_a_phase_past_a_module_that_cannot_be_imported(
    pytester: pytest.Pytester,
) -> None:
    """``ci-tools run``: the broken module is one error record, the phase's other tests run
    and pass, nothing is recorded as stopped early, and the gate counts all three."""
    write_project(pytester)
    result = ci_tools(pytester.path, "run", "--run-id", "r1", "--phase", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    run_dir = pytester.path / "reports" / "r1"
    records = test_records(run_dir / "phase1.jsonl")
    assert_broken_module_recorded(records["phase1/test_broken.py"], "phase1/test_broken.py", 1)
    assert {nodeid: r["outcome"] for nodeid, r in records.items()} == {
        "phase1/test_broken.py": "error",
        "phase1/test_good.py::test_login": "passed",
        "phase1/test_good.py::test_chat": "passed",
    }
    assert not [r for r in records.values() if "stopped early" in (r["reason"] or "")]
    gate = json.loads((run_dir / "phase1.gate.json").read_text())
    assert (gate["stopped"], gate["total"], gate["passed"]) == ("", 3, 2)


def test_the_runners_collection_lists_the_other_tests_and_refuses_a_bad_option(
    pytester: pytest.Pytester,
) -> None:
    """``ci-tools shard`` (the runner's collection) lists the tests of the modules that could
    be collected; a collection that fails as a whole (an unknown option) is still an error."""
    write_project(pytester)
    printed = ci_tools(pytester.path, "shard", "--phase", "1", "--shards", "1", "--index", "1")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.split() == [
        "phase1/test_good.py::test_login",
        "phase1/test_good.py::test_chat",
    ]
    project = config.load(pytester.path / "pyproject.toml")
    options = runner.RunOptions(
        root=pytester.path,
        run_dir=pytester.path / "reports" / "r2",
        env="here",
        pytest_args=("--no-such-option",),
    )
    with pytest.raises(CIToolsError, match=r"phase 1: collection failed \(exit 4\)"):
        runner.collect(project, 1, options)
