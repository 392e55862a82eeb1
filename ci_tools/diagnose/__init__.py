"""Diagnosis: a run's records, gates and deployment context become its verdict, its causes
(each failure under the cause that explains it), and its escalation.

One module a job: ``classify`` (each failure under a rule of :mod:`ci_tools.rules`),
``causes`` (groups, symptoms under their roots, ranking, headlines), ``escalation`` (the rule
table of ``[tool.ci_tools.escalation]``), ``verdict`` (the whole answer). Pure functions of
data: everything said is derived from what was measured, with its evidence, never guessed.
"""

from __future__ import annotations

from ci_tools.diagnose.causes import Cause, FailureGroup
from ci_tools.diagnose.classify import Classified, classify
from ci_tools.diagnose.escalation import Escalated, Escalation, Fired
from ci_tools.diagnose.verdict import Diagnosis, Verdict, diagnose
from ci_tools.rules import APPLICATION, INFRASTRUCTURE, TEST

__all__ = [
    "APPLICATION",
    "INFRASTRUCTURE",
    "TEST",
    "Cause",
    "Classified",
    "Diagnosis",
    "Escalated",
    "Escalation",
    "FailureGroup",
    "Fired",
    "Verdict",
    "classify",
    "diagnose",
]
