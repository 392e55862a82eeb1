"""Test records as the plugin writes them, with defaults for what a test does not care about."""

from __future__ import annotations

from typing import Any

from ci_tools.records import TestRecord

DEFAULTS: dict[str, Any] = {
    "file": "t.py",
    "line": 1,
    "phase": 1,
    "outcome": "passed",
    "duration_s": 0.1,
    "start": "2026-01-01T00:00:00Z",
    "end": "2026-01-01T00:00:01Z",
}


def make_record(name: str = "t", **fields: Any) -> TestRecord:
    """A record of test ``name`` (node id ``<file>::<name>``) with ``fields`` overriding."""
    values = {**DEFAULTS, **fields}
    values.setdefault("nodeid", f"{values['file']}::{name}")
    return TestRecord(**values)
