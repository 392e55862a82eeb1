"""The ci_tools pytest plugin: a phase's tests selected, run and recorded, one record a test.

pytest loads ``hooks`` (the ``pytest11`` entry point), which wires the others in. A run goes
through them in this order:

- ``options``: the ``ci_tools`` option group (``--env``, ``--phase``, ``--priority``,
  ``--run-dir``, ``--shard``, ``--concurrency``, ...), one table, and the combinations refused.
- ``selection``: the markers ``phase(n)``, ``priority("P1".."P6")``, ``area("name")`` and
  ``serial``; each test's metadata; the tests of the phase, the priority and the shard, in the
  order file's order; the phase's selection written for the runner.
- ``serial``: serial tests take turns (loaded only where one was collected).
- ``fixtures``: what an end-to-end test uses to reach the platform (its URLs, an HTTP client
  and a WebSocket connector sending its trace id, ``criterion`` to record a measured value).
- ``recorder``: each test's reports become one record, appended to the phase's JSONL file as
  it ends; only the controller writes (under pytest-xdist it sees every worker's reports, so
  none is lost or written twice); a module that cannot be collected is a record too.
  ``where``: where a failure was raised (the last frame of the repository, test body, helper
  or fixture, the library below it), loaded on the first failure. ``protocol``: where pytest
  runs its tests itself, the recorder records from the reports of pytest's own protocol
  instead of four log hooks a test.
- ``failfast``: the trips fail-fast publishes, and the guard in every test process that does
  not start, or stops, the tests of a part declared broken.
- ``pool`` (the parent's scheduling), ``worker`` (a forked worker's side), ``throttle`` (how
  many at once) and ``held`` (a phase waiting for the runner's go): tests at once in workers
  forked from the pytest process, loaded only by ``--concurrency`` and ``--go-fd``.
- ``keys``: the names of what the plugin notes on a test (each stash key stands beside what
  it keeps).

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

__all__: list[str] = []
