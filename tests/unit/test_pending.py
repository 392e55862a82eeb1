"""The order tests are handed out in: the runner's, or, with nothing known, the durations the
phase measures as it goes (``ci_tools.plugin.pending``)."""

from __future__ import annotations

from ci_tools.plugin.pending import Pending


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _take(pending: Pending, count: int) -> list[int]:
    taken = [pending.next_shared() for _ in range(count)]
    assert None not in taken
    return taken  # type: ignore[return-value]  # checked just above


def test_with_an_order_the_tests_go_as_given_and_those_given_back_first() -> None:
    """No groups: the shared tests in their order, the tests that run alone apart, and a test
    whose worker died before it began before every other."""
    pending = Pending(6, alone=[2, 4])
    assert len(pending) == 6
    assert _take(pending, 2) == [0, 1]
    pending.give_back([1])
    assert pending.left == 3
    assert _take(pending, 3) == [1, 3, 5]
    assert pending.next_shared() is None
    assert [pending.next_alone(), pending.next_alone(), pending.next_alone()] == [2, 4, None]
    assert len(pending) == 0


def test_with_nothing_known_each_function_is_sampled_modules_first() -> None:
    """One test of each module first, in the order collected; then a test of each function
    not yet sampled, from the module that took longest; a second test of a function only
    after every function has had one."""
    clock = Clock()
    groups = [("m1", "m1::a"), ("m1", "m1::a"), ("m1", "m1::b"), ("m2", "m2::c"), ("m2", "m2::d")]
    pending = Pending(5, groups=groups, clock=clock)
    assert _take(pending, 2) == [0, 3]  # m1's first, m2's first
    clock.now = 1.0
    pending.ended(0)  # m1: 1 s
    clock.now = 4.0
    pending.ended(3)  # m2: 4 s
    assert _take(pending, 3) == [4, 2, 1]  # m2's d, m1's b, then a's second


def test_the_function_measured_longest_goes_next() -> None:
    """After every function has had a test, the rest of the function whose test took
    longest, then the next longest; a tie goes to the function collected first."""
    clock = Clock()
    groups = [("m", "a")] * 3 + [("m", "b")] * 3 + [("m", "c")] * 3
    pending = Pending(9, groups=groups, clock=clock)
    assert _take(pending, 3) == [0, 3, 6]
    clock.now = 1.0
    pending.ended(0)  # a: 1 s
    clock.now = 3.0
    pending.ended(6)  # c: 3 s
    clock.now = 5.0
    pending.ended(3)  # b: 5 s
    assert _take(pending, 3) == [4, 5, 7]  # b's rest, then c
    clock.now = 20.0
    pending.ended(7)  # c: 15 s
    pending.ended(4)  # b: 15 s, the same, and collected first, but none of b is left
    assert _take(pending, 3) == [8, 1, 2]
    assert pending.next_shared() is None


def test_a_function_still_running_counts_as_long_as_it_has_run() -> None:
    """A function whose first test has run 4 s so far goes before one measured at 3 s, and
    after one measured at 5 s."""
    clock = Clock()
    groups = [("m", "slow")] * 2 + [("m", "fast")] * 2 + [("m", "mid")] * 2
    pending = Pending(6, groups=groups, clock=clock)
    assert _take(pending, 3) == [0, 2, 4]
    clock.now = 3.0
    pending.ended(2)  # fast: 3 s
    clock.now = 4.0
    assert pending.next_shared() == 1  # slow has run 4 s, and is still running
    pending.ended(4)  # mid: 4 s, longer than fast
    assert _take(pending, 2) == [5, 3]


def test_a_module_still_running_gives_its_functions_before_one_measured_short() -> None:
    """Two modules of distinct functions (no parametrization to learn from): once the first
    test of m1 has run longer than m2's took, m1's functions are sampled first."""
    clock = Clock()
    groups = [("m1", f"m1::{n}") for n in range(3)] + [("m2", f"m2::{n}") for n in range(3)]
    pending = Pending(6, groups=groups, clock=clock)
    assert _take(pending, 2) == [0, 3]
    clock.now = 0.1
    pending.ended(3)  # m2: 0.1 s
    clock.now = 0.5  # m1's first test has run 0.5 s
    assert _take(pending, 2) == [1, 2]
    assert _take(pending, 2) == [4, 5]


def test_tests_that_run_alone_stay_apart_from_the_learning() -> None:
    """A serial test is never handed out as a shared one, whatever its function measures."""
    clock = Clock()
    groups = [("m", "a"), ("m", "a"), ("m", "b"), ("m", "b")]
    pending = Pending(4, alone=[1], groups=groups, clock=clock)
    assert _take(pending, 2) == [0, 2]
    clock.now = 9.0
    pending.ended(0)
    assert pending.next_shared() == 3
    assert pending.next_shared() is None
    assert pending.next_alone() == 1


def test_a_test_given_back_goes_first_while_learning_too() -> None:
    """A test whose worker died before it began runs before every other, whatever the
    functions measure; an empty phase has nothing to hand out."""
    clock = Clock()
    groups = [("m", "a"), ("m", "a"), ("m", "b"), ("m", "b")]
    pending = Pending(4, groups=groups, clock=clock)
    assert _take(pending, 2) == [0, 2]
    pending.give_back([2])
    assert pending.left == 3
    clock.now = 5.0
    pending.ended(0)  # a: 5 s, the longest
    assert _take(pending, 3) == [2, 1, 3]
    empty = Pending(0, groups=[])
    assert (len(empty), empty.next_shared(), empty.next_alone()) == (0, None, None)
