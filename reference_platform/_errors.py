"""The platform's one exception: a message that names what is wrong and what to do."""

from __future__ import annotations


class StackError(Exception):
    """Starting, stopping or configuring the reference platform failed; the message says why."""
