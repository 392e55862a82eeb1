"""The reference platform: the system under test when no cloud is at hand.

A backend (HTTP API, WebSocket agent pipeline) and an auth service, with real PostgreSQL and
Redis servers behind them, switchable faults, Cloud-Run-shaped JSON logs and revision documents.
``python -m reference_platform start|stop|status`` (or ``nox -s stack -- ...``) runs it.
Nothing in ``ci_tools`` or ``tests/e2e`` imports this package: they reach it through its URLs
and the files it writes.
"""

from __future__ import annotations

from reference_platform._errors import StackError
from reference_platform.faults import Faults, parse_faults

__all__ = ["Faults", "StackError", "parse_faults"]
