"""The suite's own defects, known from a failure's record alone.

A test that fails because the suite is broken exercised nothing of the platform: a module that
cannot be collected (an import of a helper that does not exist, a syntax error), a fixture or
helper that raises a programming error (a ``NameError`` in ``conftest.py``, a helper called
with the wrong arguments), or pytest refusing the test itself (a fixture that does not exist).
Such a failure says nothing about the deploy: gates and criteria do not count it, escalation
rules do not see it, and the verdict says the suite is broken instead of the deploy unhealthy.

Only errors that cannot come from what a service answered qualify, and only when the suite's
own code raised them (the record's ``frame`` names test body, helper, fixture or collection,
and no client library was under it): a ``KeyError`` or an ``AttributeError`` of ``None`` may
be a renamed field in the service's answer, so it is left to the classifier and its evidence.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ci_tools.records import Failure, TestRecord

# Raised by the suite's code about the suite's code, whatever any service did.
PROGRAMMING_ERRORS = frozenset(
    {
        "NameError",
        "UnboundLocalError",
        "ImportError",
        "ModuleNotFoundError",
        "SyntaxError",
        "IndentationError",
        "TabError",
        "NotImplementedError",
        # The suite's arithmetic: a count it divides by was never checked (an assertion
        # would have said what the answer held).
        "ZeroDivisionError",
    }
)
# TypeError and AttributeError are programming errors only in these words: a call that does
# not fit the function's signature, a name a module or function does not have. A TypeError
# about None, or an AttributeError of 'NoneType', is what a missing field of an answer gives.
_SIGNATURE = re.compile(
    r"(?:missing \d+ required (?:positional|keyword-only) argument"
    r"|got an unexpected keyword argument"
    r"|takes (?:from )?\d+ (?:to \d+ )?positional arguments? but \d+ (?:were|was) given"
    r"|got multiple values for argument"
    r"|^module '[\w.]+' has no attribute"
    r"|^type object '\w+' has no attribute"
    r"|^'(?:function|method|module|builtin_function_or_method)' object has no attribute"
    # A typo on a client's own object (a Response, a Client): never a field of an answer,
    # which reads as a KeyError or an attribute of None.
    r"|^'(?:Response|Client|AsyncClient|Request|URL|Headers|ClientConnection)' object has no "
    r"attribute"
    r"|object is not callable"
    r"|not supported between instances of 'function')"
)
# pytest refusing a test before it runs: a fixture it asks for does not exist, or has the
# wrong scope; a marker or parametrisation that does not fit.
_PYTEST_REFUSED = re.compile(
    r"\bfixture '[\w.]+' not found"
    r"|\bScopeMismatch\b|You tried to access the '\w+' scoped fixture"
    r"|\bIn \w+: (?:function uses no argument|indirect fixture)"
    r"|\bwrong number of values in parametrize"
    r"|\brecursive dependency involving fixture"
)
SUITE_FRAMES = frozenset({"test", "helper", "fixture"})


def programming_error(failure: Failure) -> bool:
    """Whether the exception itself is a programming error (by its type and wording)."""
    if failure.type in PROGRAMMING_ERRORS:
        return True
    if failure.type in ("TypeError", "AttributeError"):
        return bool(_SIGNATURE.search(failure.message))
    return False


def pytest_refused(failure: Failure) -> bool:
    """Whether pytest refused the test before it ran (a missing fixture, a bad scope)."""
    return _refused(failure.type, failure.message)


@functools.lru_cache(maxsize=4096)
def _refused(kind: str, message: str) -> bool:
    """By the failure's text, read once however many times a report asks (its records, its
    groups, its criteria each ask of the same failures)."""
    return bool(_refusals().search(f"{kind}: {message}"))


@functools.cache
def _refusals() -> Any:
    """``_PYTEST_REFUSED`` in google-re2 (linear time: a 500-character failure in 5 µs, not
    75 µs by re's backtracking over five alternatives at every position); re where it is
    missing."""
    try:
        import re2  # noqa: PLC0415 - a report's dependency, not the plugin's
    except ImportError:  # pragma: no cover - google-re2 is a dependency
        return _PYTEST_REFUSED
    return re2.compile(_PYTEST_REFUSED.pattern)


def suite_defect(record: TestRecord) -> bool:
    """Whether this failure is the suite's own defect, from its record alone."""
    failure = record.failure
    if failure is None or record.outcome not in ("failed", "error"):
        return False
    if failure.frame == "collection" or pytest_refused(failure):
        return True
    return failure.frame in SUITE_FRAMES and not failure.library and programming_error(failure)


def where_file(failure: Failure) -> str:
    """The file of the failure's last frame in the repository (``where`` without its line)."""
    return failure.where.partition(":")[0]
