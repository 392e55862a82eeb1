"""The run store and what it tells: new vs known failures, flaky vs broken tests, how long a
part has been failing, historical success rates. ``store`` is the only module that touches
the database; ``address`` checks its URL (one place) and ``failures`` words what goes wrong
with it, each in one line; ``analysis`` is pure, over what the store returns."""

from __future__ import annotations

# Nothing is handed on here: importing ``store`` loads SQLAlchemy, which a caller that only
# analyses (``analysis``, ``model``) should not pay for. Import the module you need.
__all__: list[str] = []
