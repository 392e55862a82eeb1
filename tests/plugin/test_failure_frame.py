"""Each failure's record says where it was raised: the last frame inside the repository, what
that frame is (the test's body, a helper, a fixture) and the library of the innermost frame
when that one is outside, whichever way the tests ran and whatever ``--tb`` style."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

# httpx turns httpcore's errors into its own through a table it builds once, of the httpcore
# it first imported; pytester's in-process runs unload what they imported, so where httpx
# stays loaded across runs (another test module imported it) a later run's httpcore is not in
# that table and its errors pass unmapped (library "httpcore"). Imported here, before any run,
# httpcore is the same module in every run.
import httpcore  # noqa: F401
import pytest

from tests.plugin.conftest import at_once, run_phase1, test_records

HELPERS = """
import httpx

def check_status(code):
    assert code == 200, f"expected 200, got {code}"

def post_json(url):
    return httpx.post(url, json={}, timeout=5)
"""

CONFTEST = """
import pytest

@pytest.fixture
def session_user():
    return make_user("a@example.com")

@pytest.fixture
def leaky():
    yield
    raise RuntimeError("could not delete the user")
"""

SUITE = """
import asyncio
import socket

import httpx
import pytest

from helpers import check_status, post_json

pytestmark = pytest.mark.phase(1)
URL = "http://127.0.0.1:{port}/api/chat"

def test_body():
    assert 201 == 200, "wrong constant"

def test_helper():
    check_status(500)

def test_fixture(session_user):
    pass

def test_teardown(leaky):
    pass

def test_library_in_helper():
    post_json(URL)

def test_library_in_test():
    httpx.get(URL, timeout=5)

def test_socket():
    socket.create_connection(("127.0.0.1", {port}), timeout=5)

def test_asyncio():
    asyncio.run(asyncio.open_connection("127.0.0.1", {port}))

def test_passes():
    pass

class TestGroup:
    @pytest.mark.parametrize("n", [1])
    def test_method(self, n):
        raise ValueError(f"bad {{n}}")
"""


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released): connecting is
    refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def write_suite(pytester: pytest.Pytester) -> None:
    """The suite above: a test module, a helper module and a conftest, as a project has."""
    pytester.makepyfile(helpers=HELPERS, test_one=SUITE.format(port=closed_port()))
    pytester.makeconftest(CONFTEST)


def line(pytester: pytest.Pytester, name: str, text: str) -> int:
    """The 1-based line of ``name`` (a file pytester wrote) that holds ``text``."""
    lines = (pytester.path / name).read_text().splitlines()
    return next(n for n, found in enumerate(lines, 1) if text in found)


def expected(pytester: pytest.Pytester, functions: bool = True) -> dict[str, tuple[str, str, str]]:
    """Each failing test's (where, frame, library), as written by the files above;
    ``functions``: whether ``where`` names the function (every style but ``--tb=line/no``,
    which keep the innermost line alone)."""

    def at(name: str, text: str, function: str) -> str:
        found = f"{name}:{line(pytester, name, text)}"
        return f"{found} in {function}" if functions else found

    def outside(
        name: str, text: str, function: str, frame: str, library: str
    ) -> tuple[str, str, str]:
        """A failure raised in a library called from ``text``: without functions the innermost
        line kept is the library's, so neither ``where`` nor ``frame`` is known."""
        return (at(name, text, function), frame, library) if functions else ("", "", library)

    test = "test_one.py::"
    return {
        f"{test}test_body": (at("test_one.py", "assert 201", "test_body"), "test", ""),
        f"{test}test_helper": (at("helpers.py", "assert code", "check_status"), "helper", ""),
        f"{test}test_fixture": (at("conftest.py", "make_user(", "session_user"), "fixture", ""),
        f"{test}test_teardown": (at("conftest.py", "could not delete", "leaky"), "fixture", ""),
        f"{test}test_library_in_helper": outside(
            "helpers.py", "httpx.post", "post_json", "helper", "httpx"
        ),
        f"{test}test_library_in_test": outside(
            "test_one.py", "httpx.get", "test_library_in_test", "test", "httpx"
        ),
        f"{test}test_socket": outside(
            "test_one.py", "socket.create_connection", "test_socket", "test", "socket"
        ),
        f"{test}test_asyncio": outside(
            "test_one.py", "asyncio.run", "test_asyncio", "test", "asyncio"
        ),
        f"{test}TestGroup::test_method[1]": (
            at("test_one.py", "raise ValueError", "test_method"),
            "test",
            "",
        ),
    }


def origins(records: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    """Each failed record's (where, frame, library), as its JSON has them."""
    return {
        nodeid: (
            record["failure"].get("where", ""),
            record["failure"].get("frame", ""),
            record["failure"].get("library", ""),
        )
        for nodeid, record in records.items()
        if record["failure"] is not None
    }


def phase1_records(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    """The test records of phase 1 in ``out/``."""
    return test_records(Path(pytester.path) / "out" / "phase1.jsonl")


@pytest.mark.parametrize("style", ["auto", "short", "long", "native"])
def test_where_each_failure_was_raised_is_recorded_in_every_traceback_style(
    pytester: pytest.Pytester, style: str
) -> None:
    """A wrong constant in the test is "test", a suite helper's assert "helper", a conftest
    fixture's error (setup or teardown) "fixture"; a refused connection names its library
    (httpx: it re-raises httpcore's error as its own; socket and asyncio from the standard
    library) with the last line of the suite above it; a passing test has no failure."""
    write_suite(pytester)
    result = run_phase1(pytester, f"--tb={style}")
    result.assert_outcomes(passed=2, failed=7, errors=2)
    records = phase1_records(pytester)
    assert origins(records) == expected(pytester)
    assert records["test_one.py::test_passes"]["failure"] is None


@pytest.mark.parametrize("style", ["line", "no"])
def test_styles_without_a_traceback_keep_the_innermost_line(
    pytester: pytest.Pytester, style: str
) -> None:
    """``--tb=line``/``no`` keep no frames: the innermost line pytest always keeps gives
    ``where`` when it is the suite's (without its function) and ``library`` when it is not."""
    write_suite(pytester)
    result = run_phase1(pytester, f"--tb={style}")
    result.assert_outcomes(passed=2, failed=7, errors=2)
    assert origins(phase1_records(pytester)) == expected(pytester, functions=False)


@pytest.mark.parametrize("mode", ["xdist", "forked"])
def test_reports_replayed_from_workers_give_the_same_places(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Tests run at once (xdist's workers or forked ones, whose reports reach the recorder
    serialised) are recorded with the same where, frame and library as in-process."""
    write_suite(pytester)
    result = pytester.runpytest_subprocess(
        *at_once(mode, 2), "--phase", "1", "--run-dir", "out", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, failed=7, errors=2)
    assert origins(phase1_records(pytester)) == expected(pytester)


def test_a_fixture_nobody_defines_is_a_fixture_error_at_its_test(pytester: pytest.Pytester) -> None:
    """Asking for a fixture that does not exist is a FixtureLookupError naming it, placed at
    the test that asked, in setup: "fixture"."""
    pytester.makepyfile(
        test_one="""
        import pytest
        pytestmark = pytest.mark.phase(1)
        def test_lost(no_such_fixture):
            pass
        """
    )
    run_phase1(pytester).assert_outcomes(errors=1)
    failure = phase1_records(pytester)["test_one.py::test_lost"]["failure"]
    where = f"test_one.py:{line(pytester, 'test_one.py', 'def test_lost')} in test_lost"
    assert (failure["type"], failure["message"]) == (
        "FixtureLookupError",
        "fixture 'no_such_fixture' not found",
    )
    assert (failure["where"], failure["frame"], failure.get("library")) == (where, "fixture", None)


def test_frames_in_an_installed_environment_inside_the_project_are_a_library(
    pytester: pytest.Pytester,
) -> None:
    """A package under ``.venv/lib/python3.X/site-packages`` in the rootdir is a library, not
    the suite: ``where`` stays at the suite's line that called it."""
    packages = pytester.path / ".venv" / "lib" / "python3.11" / "site-packages" / "vendored"
    packages.mkdir(parents=True)
    (packages / "__init__.py").write_text("def call():\n    raise OSError('vendored broke')\n")
    pytester.makepyfile(
        test_one=f"""
        import sys
        import pytest
        sys.path.insert(0, {str(packages.parent)!r})
        from vendored import call
        pytestmark = pytest.mark.phase(1)
        def test_calls():
            call()
        """
    )
    run_phase1(pytester).assert_outcomes(failed=1)
    failure = phase1_records(pytester)["test_one.py::test_calls"]["failure"]
    where = f"test_one.py:{line(pytester, 'test_one.py', '    call()')} in test_calls"
    assert (failure["where"], failure["frame"], failure["library"]) == (where, "test", "vendored")
