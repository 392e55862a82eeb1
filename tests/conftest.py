"""Shared test configuration: pytester drives the plugin from outside, as users run it."""

from __future__ import annotations

pytest_plugins = ["pytester"]
