"""What a person reads first of a phase that went wrong, taken from what it wrote: its first
failure from its records (masked by the plugin as they were written), or, when pytest could
not run, the end of its output file (masked as it was copied there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ci_tools.records import TestRecord
from ci_tools.runner.progress import Excerpt
from ci_tools.runner.watch import FAILED_OUTCOMES

TAIL_LINES = 10  # of the output of a pytest that could not run: its error is at its end
_LONGEST_LINE = 200  # a line of an excerpt is cut past this many characters
_LOCATION = re.compile(r"\S+:\d+: ")  # pytest's line under a frame: "tests/x.py:42: Error"


def _cut(line: str) -> str:
    line = line.rstrip()
    return line if len(line) <= _LONGEST_LINE else line[: _LONGEST_LINE - 1] + "…"


def first_failure(records: Sequence[TestRecord], phase: int, output: Path) -> Excerpt | None:
    """The first failure of the phase (the first failed or errored record, in the order the
    tests ended): its test id, the last frame of its traceback (where, and its source
    line) and its exception's first line; None when no test failed."""
    failed = [record for record in records if record.outcome in FAILED_OUTCOMES]
    if not failed:
        return None
    first = failed[0]
    count = f"first of {len(failed)} failures" if len(failed) > 1 else "failed"
    lines: list[str] = []
    failure = first.failure
    if failure is None:
        lines.append(first.reason or first.outcome)
    else:
        traceback = failure.traceback.splitlines()
        where = failure.where or next(
            (line for line in reversed(traceback) if _LOCATION.match(line)), ""
        )
        source = next((line for line in reversed(traceback) if line.startswith(">")), "")
        if where:
            lines.append(where)
        if source:
            lines.append("> " + source[1:].strip())
        message = failure.message.strip().splitlines()
        lines.append(f"E {failure.type}: {message[0]}" if message else f"E {failure.type}")
    return Excerpt(phase, f"{count}: {first.nodeid}", tuple(map(_cut, lines)), output)


def output_tail(phase: int, heading: str, output: Path) -> Excerpt:
    """The end of pytest's output of the phase (its last ``TAIL_LINES`` lines that are not
    blank): where a pytest that could not run says why."""
    try:
        text = output.read_bytes().decode("utf-8", "replace")
    except OSError:
        text = ""
    lines = [line for line in text.splitlines() if line.strip()][-TAIL_LINES:]
    return Excerpt(phase, heading, tuple(map(_cut, lines)), output)
