"""Fault arguments: valid ones parse, anything else is refused with the list of valid ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_platform import StackError, parse_faults
from reference_platform.faults import FAULTS, Faults, dropped


def test_no_fault_is_a_healthy_platform() -> None:
    """No --fault gives the defaults: every switch off."""
    assert parse_faults([]) == Faults()
    assert Faults().names() == []


def test_every_fault_parses_and_round_trips() -> None:
    """Each documented fault parses and is written back the same way."""
    args = [
        "redis_down",
        "db_slow=5000",
        "missing_secret",
        "agent_hang",
        "subagent_hang=optimization",
        "subagent_error=data",
        "ws_drop=0.25",
        "missing_module",
    ]
    faults = parse_faults(args)
    assert faults == Faults(
        redis_down=True,
        db_slow_ms=5000,
        missing_secret=True,
        agent_hang=True,
        subagent_hang="optimization",
        subagent_error="data",
        ws_drop_rate=0.25,
        missing_module=True,
    )
    assert faults.names() == args
    assert {spec.name for spec in FAULTS} == {arg.split("=")[0] for arg in args}


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("redis_dwn", "unknown fault 'redis_dwn': valid faults are redis_down, db_slow=MS"),
        ("db_slow", "fault 'db_slow' needs a value: write --fault db_slow=MS"),
        ("db_slow=fast", "bad value 'fast' for fault db_slow"),
        ("db_slow=0", "bad value '0' for fault db_slow"),
        ("ws_drop=1.5", "bad value '1.5' for fault ws_drop"),
        ("ws_drop=0", "bad value '0' for fault ws_drop"),
        ("redis_down=1", "fault 'redis_down' takes no value"),
        ("subagent_hang", "fault 'subagent_hang' needs a value: write --fault subagent_hang=NAME"),
        (
            "subagent_error=billing",
            "unknown sub-agent 'billing' for fault subagent_error: valid sub-agents are "
            "triage, data, optimization, reporting, general, e.g. --fault subagent_error=data",
        ),
        ("subagent_hang=", "unknown sub-agent '' for fault subagent_hang: valid sub-agents are"),
    ],
)
def test_bad_faults_are_refused_in_one_line(arg: str, message: str) -> None:
    """An unknown fault or a bad value raises one line that says what to write instead."""
    with pytest.raises(StackError) as caught:
        parse_faults([arg])
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_one_sub_agent_cannot_both_hang_and_fail() -> None:
    """A sub-agent named by both sub-agent faults is refused in one line naming it."""
    with pytest.raises(StackError) as caught:
        parse_faults(["subagent_hang=data", "subagent_error=data"])
    assert str(caught.value) == (
        "faults subagent_hang and subagent_error both name 'data': a sub-agent either hangs "
        "or fails, give it one of them"
    )
    both = parse_faults(["subagent_hang=data", "subagent_error=reporting"])
    assert (both.subagent_hang, both.subagent_error) == ("data", "reporting")


def test_the_fault_listing_names_the_sub_agents(capsys: pytest.CaptureFixture[str]) -> None:
    """start --help lists the sub-agent faults with the sub-agents they accept."""
    from reference_platform.__main__ import main  # noqa: PLC0415

    with pytest.raises(SystemExit):
        main(["start", "--help"])
    # argparse wraps the listing (at hyphens too): compare without the whitespace.
    listing = "".join(capsys.readouterr().out.split())
    for entry in (
        "subagent_hang=NAME: that sub-agent (triage, data, optimization, reporting, general) "
        "starts and never completes",
        "subagent_error=NAME: that sub-agent's tools find their source down",
    ):
        assert "".join(entry.split()) in listing, entry


@given(st.text(max_size=30))
def test_arbitrary_text_either_parses_or_is_refused(text: str) -> None:
    """No input crashes the parser: it gives Faults or a StackError, nothing else."""
    outcome: Faults | str
    try:
        outcome = parse_faults([text])
    except StackError as exc:
        outcome = str(exc)
    if isinstance(outcome, str):
        assert "fault" in outcome
    else:
        assert outcome != Faults()


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.3, 0.5, 1.0])
def test_ws_drop_cuts_off_exactly_that_fraction_evenly(rate: float) -> None:
    """Of the first n answers, for every n, exactly floor(n * rate) are cut off: spread
    evenly, so a fault run diagnoses the same every time."""
    cut = [n for n in range(1, 101) if dropped(n, rate)]
    assert len(cut) == int(100 * rate + 1e-9)
    for n in range(1, 101):
        assert sum(1 for c in cut if c <= n) == int(n * rate + 1e-9)
