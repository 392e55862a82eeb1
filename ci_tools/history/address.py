"""Where the run store is: its URL checked in one place, and shown without its password.

A URL that cannot name a store (no database kind ci_tools knows, a port that is no number or
outside 1-65535, SQLite without a path) is a :class:`ConfigError`: the CLI says it in one line
and exits 2 before any phase runs, instead of a traceback or a run silently not recorded.

SQLAlchemy is loaded only for a URL it must read: a SQLite file's URL, the default store's and
the common one, holds nothing it could refuse, and a run checks the URL before its first phase
starts, where SQLAlchemy's 0.1 s of loading would hold that phase back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ci_tools._exceptions import ConfigError

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["EXAMPLES", "check_url", "describe", "parse_url"]

EXAMPLES = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:5432/DB"
# What each accepted scheme is opened with: SQLite through Python's sqlite3, PostgreSQL
# through psycopg 3 (not SQLAlchemy's default psycopg2, which ci_tools does not install).
DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
# user:password@ in the authority, up to its last @ (an unescaped @ in a password stays
# hidden); a password given as a query parameter.
_PASSWORD = re.compile(r"^(?P<head>[\w+.-]+://[^:/@?#]*):.*@(?P<tail>[^@]*)$", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)[^&]*", re.IGNORECASE)
# A SQLite file's URL: a driver ci_tools opens, no host or port, a path and no query, nothing
# escaped (SQLAlchemy decodes %3A: %3Amemory%3A is the database in memory). Nothing in it that
# parse_url refuses but the database in memory.
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?%]+)")


def describe(url: str) -> str:
    """The URL without its password, for messages (``postgresql://ci:***@db/history``)."""
    shown = _PASSWORD.sub(r"\g<head>:***@\g<tail>", url.strip())
    return _QUERY_PASSWORD.sub(r"\g<key>***", shown).replace("\n", " ")


def _port_text(url: str) -> str:
    """The port as written in the URL (what SQLAlchemy could not read as a number)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return "?"
    host = netloc.rpartition("@")[2]
    return host.rpartition(":")[2] if ":" in host.rpartition("]")[2] else "?"


def check_url(url: str, given_in: str = "CI_TOOLS_HISTORY_URL") -> None:
    """The :class:`ConfigError` :func:`parse_url` raises for ``url``, if any; a SQLite file's
    URL is accepted without loading SQLAlchemy."""
    plain = _SQLITE_FILE.fullmatch(url.strip())
    if plain is None or plain["path"] == ":memory:":
        parse_url(url, given_in)


def parse_url(url: str, given_in: str = "CI_TOOLS_HISTORY_URL") -> sa.URL:
    """The store's URL as SQLAlchemy opens it (its driver chosen); a :class:`ConfigError`
    naming ``given_in`` (where the URL was set) and the fix when it cannot name a store."""
    import sqlalchemy as sa  # noqa: PLC0415 - loads slowly: only for a URL it must read

    shown = f"run store URL {describe(url)} ({given_in})"
    try:
        parsed = sa.make_url(url.strip())
    except sa.exc.ArgumentError:
        raise ConfigError(f"{shown} is not a database URL: give {EXAMPLES}") from None
    except ValueError:  # SQLAlchemy reads the port with int()
        raise ConfigError(
            f"{shown} has a port that is not a number ({_port_text(url)!r}): give one from 1 "
            "to 65535, e.g. postgresql://USER:PASSWORD@HOST:5432/DB"
        ) from None
    driver = DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"{shown} names {parsed.drivername!r}, which ci_tools cannot store runs in: "
            f"give {EXAMPLES}"
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ConfigError(
            f"{shown} has port {parsed.port}, outside 1-65535: give the port the server "
            "listens on (PostgreSQL's is 5432)"
        )
    if driver == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            f"{shown} names no file (a store in memory is gone when the command ends): give "
            "sqlite:///PATH"
        )
    return parsed.set(drivername=driver)
