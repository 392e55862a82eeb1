"""The run store and what it tells: new vs known failures, flaky vs broken tests, how long a
part has been failing, historical success rates. ``store`` is the only module that touches
the database; ``analysis`` is pure, over what the store returns."""

from __future__ import annotations
