"""Splitting a phase over shards: every test once, no empty shard, balanced, deterministic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci_tools import shard
from ci_tools._exceptions import ConfigError

NODEIDS = st.lists(st.text("abcdef", min_size=1, max_size=6), unique=True, max_size=60)


@given(NODEIDS, st.integers(1, 8), st.data())
def test_every_test_lands_in_exactly_one_shard_and_none_is_empty(
    nodeids: list[str], shards: int, data: st.DataObject
) -> None:
    """Whatever the durations (some unknown, some zero): each test once, min(K, n) shards,
    none empty, each in collection order."""
    durations = {
        n: data.draw(st.floats(0, 100)) for n in nodeids if data.draw(st.booleans(), label=n)
    }
    planned = shard.split(nodeids, durations, shards)
    assert len(planned) == min(shards, len(nodeids))
    assert all(planned)
    assert sorted(n for part in planned for n in part) == sorted(nodeids)
    for part in planned:
        assert part == [n for n in nodeids if n in part]
    assert planned == shard.split(list(nodeids), dict(durations), shards)  # deterministic


def test_the_longest_tests_spread_and_the_slowest_shard_is_near_the_ideal() -> None:
    """Skewed durations: the split's slowest shard is within 5% of total / K."""
    nodeids = [f"t{n}" for n in range(200)]
    durations = {n: (60.0 if i < 4 else 1.0 + i % 7) for i, n in enumerate(nodeids)}
    planned = shard.split(nodeids, durations, 4)
    loads = [sum(durations[n] for n in part) for part in planned]
    assert max(loads) <= 1.05 * sum(loads) / 4
    assert all(sum(1 for n in part if durations[n] == 60.0) == 1 for part in planned)


def test_without_durations_the_shards_are_balanced_by_count() -> None:
    """Nothing measured: 10 tests over 3 shards are 4, 3 and 3."""
    planned = shard.split([f"t{n}" for n in range(10)], {}, 3)
    assert sorted(len(part) for part in planned) == [3, 3, 4]


def test_a_shard_past_the_tests_is_empty_and_the_others_hold_them_all() -> None:
    """Three tests, four shards: shard 4 holds nothing; shards 1-3 one test each."""
    nodeids = ["a", "b", "c"]
    assert [shard.of(nodeids, {}, i, 4) for i in range(1, 5)] == [["a"], ["b"], ["c"], []]


@pytest.mark.parametrize("spec", ["2", "0/4", "5/4", "a/b", "2/0", "-1/3"])
def test_a_bad_shard_spec_is_one_line_naming_the_form(spec: str) -> None:
    """Anything but I/K with 1 <= I <= K is refused, naming the form to use."""
    with pytest.raises(ConfigError, match=r"I/K|between 1 and K"):
        shard.parse(spec)


def test_a_shard_spec_reads_as_index_and_count() -> None:
    """'2/4' is shard 2 of 4."""
    assert shard.parse("2/4") == (2, 4)
    assert shard.parse(" 1 / 1 ") == (1, 1)


def test_serial_tests_stay_together_in_one_shard() -> None:
    """Tests that take turns on one runner's lock (serial) all land in the same shard, and
    the shards stay balanced around them."""
    nodeids = [f"t{n}" for n in range(20)]
    serial = ["t3", "t11", "t17"]
    planned = shard.split(nodeids, {n: 1.0 for n in nodeids}, 4, together=serial)
    holding = [part for part in planned if set(serial) & set(part)]
    assert len(holding) == 1
    assert set(serial) <= set(holding[0])
    assert sorted(n for part in planned for n in part) == sorted(nodeids)
    assert max(len(p) for p in planned) - min(len(p) for p in planned) <= 3
