"""The keys of the plugin's state: ``pytest.StashKey``s on the config, and the names of what it
notes in a test's ``user_properties`` (its reports carry them to the recorder, from xdist and
forked workers alike).

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ci_tools import config as cfg
    from ci_tools.plugin.failfast import FailFastGuard
    from ci_tools.plugin.recorder import Recorder

META = "ci_tools.meta"  # the test's phase, priority, areas and markers (selection.item_meta)
TRACE = "ci_tools.trace_id"  # a trace id the test sent (the trace_id fixture)
MEASURE = "ci_tools.measurement"  # a value measured against a criterion (the criterion fixture)
NOT_RUN = "ci_tools.not_run"  # why fail-fast did not start the test, or stopped it

RECORDER: pytest.StashKey[Recorder] = pytest.StashKey()  # the controller's, of a recorded run
CONFIG: pytest.StashKey[cfg.Config] = pytest.StashKey()  # [tool.ci_tools], loaded once
GUARD: pytest.StashKey[FailFastGuard] = pytest.StashKey()  # a fail-fast run's, where tests run
