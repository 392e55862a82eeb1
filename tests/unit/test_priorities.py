"""``[tool.ci_tools.priorities]``: each priority's title and what it protects, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci_tools import config as cfg
from ci_tools import records
from ci_tools._exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BRIEF = {
    "P1": "P1 Core platform — $120K+ MRR",
    "P2": "P2 Key features — $80K MRR",
    "P3": "P3 Important workflows — $50K MRR",
    "P4": "P4 Secondary features — $20K MRR",
    "P5": "P5 Edge cases — $10K MRR",
    "P6": "P6 Nice to have — $5K MRR",
}


def test_the_projects_table_states_the_briefs_figures() -> None:
    """pyproject.toml gives every priority the brief's title and revenue, P1 first."""
    config = cfg.load(ROOT / "pyproject.toml")
    assert {name: config.priority_label(name) for name in config.priorities} == BRIEF
    assert list(config.priorities) == list(records.PRIORITIES)


def test_without_a_table_the_priorities_have_titles_and_state_no_money() -> None:
    """No table: the brief's titles, nothing stated as protected, so no figure is shown."""
    config = cfg.parse({})
    assert config.priority_label("P1") == "P1 Core platform"
    assert config.priority_label("P6") == "P6 Nice to have"
    assert all(p.protects == "" for p in config.priorities.values())
    assert config.priority_label(None) == "-"


def test_a_priority_given_replaces_its_default_and_the_others_keep_theirs() -> None:
    """Only P2 configured: P2 is as given, P1 and P3..P6 keep their default titles."""
    config = cfg.parse({"priorities": {"P2": {"title": "Billing", "protects": "$1M ARR"}}})
    assert config.priority_label("P2") == "P2 Billing — $1M ARR"
    assert config.priority_label("P1") == "P1 Core platform"
    assert list(config.priorities) == list(records.PRIORITIES)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"P7": {"title": "x"}},
            "priorities.P7: unknown priority; use one of P1, P2, P3, P4, P5, P6",
        ),
        ({"p1": {"title": "x"}}, "priorities.p1: unknown priority"),
        (
            {"P1": {"protects": "$1"}},
            'priorities.P1.title: missing; give the priority a title, e.g. title = "Core platform"',
        ),
        ({"P1": {"title": 5}}, "priorities.P1.title: must be a string in quotes (got 5)"),
        ({"P2": {"title": "x", "protects": 80000}}, "priorities.P2.protects: must be a string"),
        ({"P1": {"title": "  "}}, "priorities.P1.title: is empty; give the priority a title"),
        ({"P1": {"title": "x", "mrr": "1"}}, "priorities.P1.mrr: unknown key; a priority has"),
        ({"P1": "Core platform"}, "priorities.P1: must be a table with a title"),
    ],
)
def test_bad_priorities_are_one_line_naming_the_key_and_the_fix(
    table: dict[str, Any], expected: str
) -> None:
    """Each mistake in the table is one ConfigError line with the key and what to do."""
    with pytest.raises(ConfigError) as caught:
        cfg.parse({"priorities": table})
    message = str(caught.value)
    assert message.startswith("pyproject.toml: [tool.ci_tools] priorities")
    assert expected in message
    assert "\n" not in message


def test_a_priorities_value_that_is_not_a_table_is_refused() -> None:
    """``priorities = "P1"``: one line showing the table's shape."""
    with pytest.raises(ConfigError, match=r"priorities: must be a table of priorities \(e\.g\."):
        cfg.parse({"priorities": "P1"})


def test_a_criterion_naming_an_unknown_priority_is_refused() -> None:
    """A pass-rate criterion of priority P9 could never be measured: refused at load."""
    criterion = {"title": "P9 pass rate", "source": "pass_rate", "priority": "P9", "min": 1.0}
    with pytest.raises(ConfigError, match=r"criteria\.p9\.priority: unknown priority 'P9'"):
        cfg.parse({"criteria": {"p9": criterion}})


_TEXT = st.text(min_size=1, max_size=20).filter(lambda t: t.strip() != "")


@given(
    st.dictionaries(
        st.sampled_from(records.PRIORITIES),
        st.fixed_dictionaries({"title": _TEXT}, optional={"protects": st.text(max_size=20)}),
    )
)
def test_any_valid_table_parses_and_labels_each_priority_as_given(
    table: dict[str, dict[str, str]],
) -> None:
    """Whatever valid table is given, every priority has a label; the given ones read
    ``NAME title — protects`` exactly as configured."""
    config = cfg.parse({"priorities": table})
    assert list(config.priorities) == list(records.PRIORITIES)
    for name, value in table.items():
        protects = value.get("protects", "")
        expected = f"{name} {value['title']}" + (f" — {protects}" if protects else "")
        assert config.priority_label(name) == expected


@given(st.text(max_size=6).filter(lambda name: name not in records.PRIORITIES))
def test_any_other_priority_name_is_refused(name: str) -> None:
    """A name the marker does not accept is never taken into the table."""
    with pytest.raises(ConfigError, match="unknown priority"):
        cfg.parse({"priorities": {name: {"title": "x"}}})
