"""Quarantine: tests known to be unreliable, each with an owner, a reason and an expiry.

``tests/e2e/quarantine.toml`` (``[tool.ci_tools] quarantine_file``)::

    [[quarantine]]
    test = "tests/e2e/phase3_features/test_streaming.py::test_first_chunk*"  # id or pattern
    owner = "alice"
    reason = "first chunk late under load, #123"
    expires = 2027-01-15

A quarantined test still runs, is recorded and shown, but its result does not count against
its phase's gate. From its expiry date on, an entry no longer applies and the worklog names
it. A bad file is one line naming the entry and the key.

PYTEST_DONT_REWRITE: the runner imports it; it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import tomllib
from pathlib import Path

from ci_tools._exceptions import ConfigError

FIELDS = ("test", "owner", "reason", "expires")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One quarantined test (or pattern of tests)."""

    test: str
    owner: str
    reason: str
    expires: dt.date

    def matches(self, nodeid: str) -> bool:
        """Whether the entry names this test (its id, or a shell-style pattern)."""
        return nodeid == self.test or fnmatch.fnmatchcase(nodeid, self.test)


@dataclasses.dataclass(frozen=True)
class Quarantine:
    """The entries in force, and those that expired."""

    active: tuple[Entry, ...] = ()
    expired: tuple[Entry, ...] = ()

    def entry_for(self, nodeid: str) -> Entry | None:
        """The entry in force for a test, if any."""
        return next((e for e in self.active if e.matches(nodeid)), None)


NONE = Quarantine()


def load(path: Path, today: dt.date) -> Quarantine:
    """The quarantine file's entries, split by ``today``; none when there is no file."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return NONE
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix it or remove it") from None
    entries = data.get("quarantine", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: quarantine must be a list of [[quarantine]] tables")
    active: list[Entry] = []
    expired: list[Entry] = []
    for index, raw in enumerate(entries, start=1):
        where = f"{path}: [[quarantine]] entry {index}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} is not a table")
        missing = [key for key in FIELDS if not raw.get(key)]
        if missing:
            raise ConfigError(f"{where} lacks {', '.join(missing)}: give {', '.join(FIELDS)}")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r}: keys are {', '.join(FIELDS)}"
            )
        expires = raw["expires"]
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        if not isinstance(expires, dt.date):
            raise ConfigError(
                f"{where}: expires must be a date such as 2027-01-15, got {expires!r}"
            )
        entry = Entry(str(raw["test"]), str(raw["owner"]), str(raw["reason"]), expires)
        (active if expires > today else expired).append(entry)
    return Quarantine(tuple(active), tuple(expired))


def load_today(path: Path) -> Quarantine:
    """The quarantine file's entries as they stand today (UTC)."""
    return load(path, dt.datetime.now(dt.UTC).date())
