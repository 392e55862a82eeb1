"""How hostile text is judged inert in the report's outputs: the ``<details>`` blocks and
headings GitHub's renderer finds in a worklog, the headings the template may build, and what
``ci-tools`` prints to the terminal besides its annotations. Shared by
``tests/unit/test_inert_report.py`` and ``benchmarks/trust.py``."""

from __future__ import annotations

import io
import re

from rich.console import Console

from ci_tools.cli import gate_line
from ci_tools.context.model import Context
from ci_tools.context.stage import summary as context_summary
from ci_tools.diagnose import Diagnosis
from ci_tools.report.terminal import print_summary
from tests.fakes.payloads import to_html

# The headings the template builds: one h1 (the verdict), each section's h2 at most once.
SECTIONS = {
    "Summary",
    "Phases",
    "Criteria",
    "Likely causes, ranked",
    "Failures by signature",
    "History",
    "Quarantine",
    "What changed in code since the last healthy run",
    "Deployment context",
    "Next steps",
    "Notes",
}


def structure(markdown: str) -> tuple[int, int, list[tuple[str, str]]]:
    """The ``<details>`` opened and closed, and the headings (level, text), of GitHub's
    rendering."""
    rendered = to_html(markdown)
    opened = len(re.findall(r"<details[\s>]", rendered))
    headings = re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", rendered, re.S)
    return opened, rendered.count("</details>"), headings


def injected_headings(headings: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headings the template did not build: an h1 after the first, any h3-h6, an h2
    that is no section or repeats one."""
    found, seen_h1, seen_h2 = [], False, set()
    for level, text in headings:
        section = text.strip()
        if level == "1" and not seen_h1:
            seen_h1 = True
        elif level == "2" and section in SECTIONS and section not in seen_h2:
            seen_h2.add(section)
        else:
            found.append((level, text))
    return found


def terminal_output(diagnosis: Diagnosis, context: Context, worklog: str) -> str:
    """What ``ci-tools report``, ``context`` and ``run`` print besides the annotations: the
    closing summary (rich, wrapped at 80 columns), the context's lines, each gate's line."""
    out = io.StringIO()
    print_summary(diagnosis, worklog, Console(file=out, width=80))
    lines = [*context_summary(context), *(gate_line(g) for g in diagnosis.gates)]
    return out.getvalue() + "\n".join(lines)
