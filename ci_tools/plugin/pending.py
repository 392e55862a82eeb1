"""The tests of a phase not yet handed to a worker, and which one goes next (``Pending``).

With the runner's order (the last run's failures, then longest first), they go in that
order. Without one (a first run, a new test suite: nothing is known yet) the durations this
run measures order them, as longest-first does with known ones:

- first one test of each test function: a round that measures every function early, the
  long ones included. It begins with the first test of each module, in the order collected;
  then the module whose tests took longest gives its next function (a module's tests are
  often alike: a module of streamed answers against a module of status checks);
- then the rest of each function, the function whose tests took longest first: a function's
  tests (its parametrizations) take about as long as each other.

A function or module none of whose tests has ended yet counts as long as its first one has
run so far.

Tests that run alone (``serial``) keep their own queue, in order. A test given back (its
worker died before it started) goes before every other. Loaded only by runs with tests at
once.

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence


class _Longest:
    """Groups of tests (functions, or modules), in the order to take from them: a group none
    of whose tests was taken first (``fresh``: in the order given); then the group measured
    longest, or one whose first test runs, unmeasured, for longer than that."""

    def __init__(self, names: Sequence[str], fresh: bool) -> None:
        self.order = {name: place for place, name in enumerate(names)}  # ties: the first
        self.fresh = deque(names if fresh else ())
        self.running: dict[str, float] = {}  # none ended: when the first was taken
        self.longest: dict[str, float] = {}  # the longest of its tests that ended
        self.measured: list[tuple[float, int, str]] = []  # (-longest, order, name): a heap

    def next(self, has_tests: Callable[[str], bool], now: float) -> str | None:
        """The group to take from next among those that ``has_tests`` left; None: none."""
        while self.fresh and (self.fresh[0] in self.running or self.fresh[0] in self.longest):
            self.fresh.popleft()  # taken already
        while self.fresh:
            if has_tests(self.fresh[0]):
                return self.fresh[0]
            self.fresh.popleft()
        heap = self.measured
        while heap and (not has_tests(heap[0][2]) or -heap[0][0] != self.longest[heap[0][2]]):
            heapq.heappop(heap)  # nothing left of it, or measured longer since
        oldest = next(iter(self.running), None)  # taken first: running longest
        while oldest is not None and not has_tests(oldest):
            del self.running[oldest]
            oldest = next(iter(self.running), None)
        if oldest is not None and (not heap or now - self.running[oldest] > -heap[0][0]):
            return oldest
        return heap[0][2] if heap else None

    def taken(self, name: str, now: float) -> None:
        """A test of the group was handed out."""
        if name not in self.longest:
            self.running.setdefault(name, now)

    def took(self, name: str, seconds: float) -> None:
        """A test of the group ended after ``seconds``."""
        if seconds > self.longest.get(name, -1.0):
            self.longest[name] = seconds
            self.running.pop(name, None)
            heapq.heappush(self.measured, (-seconds, self.order[name], name))


class Pending:
    """The tests not handed out yet, by their index in the session's items. ``groups``: each
    test's module and function, or None to keep the order given; ``alone``: the tests that
    run with nothing beside them."""

    def __init__(
        self,
        count: int,
        alone: Iterable[int] = (),
        groups: Sequence[tuple[str, str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runs_alone = runs_alone = set(alone)
        self.alone = deque(i for i in range(count) if i in runs_alone)
        self.back: deque[int] = deque()  # given back: before every other shared test
        self.left = count - len(self.alone)  # shared tests not handed out
        self.clock = clock
        self.groups = groups
        self.shared: dict[str, deque[int]] = {}  # by function, in the order collected
        self.unsampled: dict[str, deque[str]] = {}  # by module: functions none of whose
        # tests was handed out, in the order collected
        for index in range(count):
            module, function = groups[index] if groups else ("", "")
            if index in runs_alone:
                continue
            if function not in self.shared:
                self.shared[function] = deque()
                self.unsampled.setdefault(module, deque()).append(function)
            self.shared[function].append(index)
        self.modules = _Longest(list(self.unsampled), fresh=True)
        self.functions = _Longest(list(self.shared), fresh=False)
        self.handed: dict[int, float] = {}  # when each test was handed out

    def __len__(self) -> int:
        return len(self.alone) + self.left

    def next_shared(self) -> int | None:
        """Takes the next test that may run beside others; None when none is left."""
        if self.back:
            index = self.back.popleft()
        else:
            name = self._next_function()
            if name is None:
                return None
            index = self.shared[name].popleft()
        self.left -= 1
        if self.groups is not None:
            module, function = self.groups[index]
            now = self.handed[index] = self.clock()
            self.modules.taken(module, now)
            self.functions.taken(function, now)
        return index

    def next_alone(self) -> int | None:
        """Takes the next test that runs alone; None when none is left."""
        return self.alone.popleft() if self.alone else None

    def give_back(self, indexes: Sequence[int]) -> None:
        """Tests handed out that did not start (their worker died): they go first, in order."""
        for index in reversed(indexes):
            apart = index in self.runs_alone
            (self.alone if apart else self.back).appendleft(index)
            self.left += not apart

    def ended(self, index: int) -> None:
        """The test of ``index`` ended: its function and module measured, from its hand-out."""
        handed = self.handed.pop(index, None)
        if handed is None or self.groups is None:
            return
        module, function = self.groups[index]
        took = self.clock() - handed
        self.modules.took(module, took)
        self.functions.took(function, took)

    def _next_function(self) -> str | None:
        """The function whose test goes next: in the order given; else a function not yet
        sampled, from the module that looks longest; else the function that does."""
        if self.groups is None:
            return "" if self.shared.get("") else None
        now = self.clock()
        module = self.modules.next(lambda name: bool(self.unsampled[name]), now)
        if module is not None:
            return self.unsampled[module].popleft()
        return self.functions.next(lambda name: bool(self.shared[name]), now)
