"""What a failure of the run store means, in one line with what to do: a table from the
database's own error codes (SQLite's error names, PostgreSQL's SQLSTATEs) to a reason said
of the store ("is locked: ...") and a fix; pure, so that each line is tested without a
server."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from ci_tools._exceptions import HistoryError

__all__ = ["ELSEWHERE", "TROUBLES", "failure"]

ELSEWHERE = "point CI_TOOLS_HISTORY_URL at another store"


@dataclasses.dataclass(frozen=True)
class _Trouble:
    """A kind of database error: the SQLite error names (prefixes) and PostgreSQL SQLSTATEs
    that mean it, what it says of the store, and what to do."""

    sqlite: tuple[str, ...]
    sqlstates: tuple[str, ...]
    reason: str  # ``{timeout}``: the busy timeout in seconds
    fix: str


TROUBLES = (
    _Trouble(
        ("SQLITE_BUSY", "SQLITE_LOCKED"),
        ("55P03",),  # lock_not_available: lock_timeout ran out
        "is locked: another writer held it past the {timeout:g} s timeout",
        "try again once that writer has finished",
    ),
    _Trouble(
        ("SQLITE_NOTADB", "SQLITE_CORRUPT"),
        ("XX001", "XX002"),  # data_corrupted, index_corrupted
        "is not a usable database",
        f"move the file aside (it was left as it is), or {ELSEWHERE}",
    ),
    _Trouble(
        ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM"),
        (),
        "cannot be opened for writing",
        f"make the file and its folder writable, or {ELSEWHERE}",
    ),
    _Trouble(("SQLITE_FULL",), ("53100",), "cannot grow: its disk is full", "free space on it"),
    _Trouble(
        (),
        ("28P01", "28000"),
        "refused the credentials",
        "check the user and password in CI_TOOLS_HISTORY_URL",
    ),
    _Trouble(
        (),
        ("3D000",),
        "has no such database",
        "create it (CREATE DATABASE) or correct the URL's database name",
    ),
    _Trouble(
        (),
        ("42501",),
        "refused a write",
        "grant the URL's user the right to create tables and write in the database",
    ),
)


def failure(
    exc: sa.exc.SQLAlchemyError, where: str, doing: str, busy_timeout_s: float, secret: str = ""
) -> HistoryError:
    """What a database error means for the store at ``where``, in one line with its fix;
    ``secret`` (the URL's password) is masked wherever the driver repeats it."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    if secret:
        first = first.replace(secret, "***")
    sqlite_error = str(getattr(orig, "sqlite_errorname", ""))
    sqlstate = getattr(orig, "sqlstate", None)
    for trouble in TROUBLES:
        if sqlite_error.startswith(trouble.sqlite) or sqlstate in trouble.sqlstates:
            reason = trouble.reason.format(timeout=busy_timeout_s)
            return HistoryError(where, f"{reason} ({first})", trouble.fix)
    if isinstance(exc, sa.exc.OperationalError) and not sqlite_error and sqlstate is None:
        # psycopg's connection failures carry no SQLSTATE: nothing answered.
        return HistoryError(
            where,
            f"cannot be reached ({first})",
            "check that PostgreSQL runs there and the URL's host and port are right",
        )
    return HistoryError(
        where, f"could not {doing} ({first})", "try again; if it repeats, check the store"
    )
