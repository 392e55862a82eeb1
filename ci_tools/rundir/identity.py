"""``run.json``: who a run is (its run id and attempt), written in its own directory.

A run directory copied elsewhere (a downloaded artifact, a backup) and reported again is the
same run: the report stage takes the run's identity from this file, never from the folder's
name, so the run store replaces the run instead of adding a second one.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ci_tools.rundir.paths import IDENTITY, check_run_id

__all__ = ["RunIdentity"]


@dataclasses.dataclass(frozen=True)
class RunIdentity:
    """One attempt of one run: the run store's key within an environment."""

    run_id: str
    attempt: int = 1  # GITHUB_RUN_ATTEMPT: a re-run is a new attempt of the same run

    def as_json(self) -> dict[str, Any]:
        """The document as ``run.json`` holds it."""
        return {"run_id": self.run_id, "attempt": self.attempt}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunIdentity:
        """Reads what ``as_json`` wrote; a missing key raises ``KeyError``, a wrong value
        ``TypeError`` or ``ValueError`` (a run id that is not one: ``ConfigError``)."""
        attempt = data.get("attempt", 1)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(f"attempt {attempt!r} is not a positive whole number")
        run_id = data["run_id"]
        if not isinstance(run_id, str):
            raise TypeError(f"run_id {run_id!r} is not text")
        return cls(check_run_id(run_id, f"{IDENTITY}'s run_id"), attempt)
