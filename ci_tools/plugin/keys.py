"""The names of what the plugin notes in a test's ``user_properties``: its reports carry them
to the recorder, from xdist and forked workers alike. (Each ``pytest.StashKey`` stands beside
what it keeps: ``recorder.RECORDER``, ``failfast.GUARD``, ``fixtures.CONFIG``.)

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

META = "ci_tools.meta"  # the test's phase, priority, areas and markers (selection.item_meta)
TRACE = "ci_tools.trace_id"  # a trace id the test sent (the trace_id fixture)
MEASURE = "ci_tools.measurement"  # a value measured against a criterion (the criterion fixture)
NOT_RUN = "ci_tools.not_run"  # why fail-fast did not start the test, or stopped it
