"""The report stage's package: ``stage`` writes the worklog and its outputs from a run's
directory; ``markdown`` (with ``worklog.md.j2``) renders the worklog, ``github`` the step
summary, annotations and outputs, ``junit`` the JUnit XML, ``terminal`` the closing summary,
``lookback`` what the run store says of the run, ``changes`` the commits since the last
healthy run.

This face re-exports only.
"""

from __future__ import annotations

from ci_tools.report.stage import Report, import_run, run_verdict, write_report

__all__ = ["Report", "import_run", "run_verdict", "write_report"]
