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
        "handler_error",
        "subagent_wrong=triage",
        "contract_change",
        "events_out_of_order",
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
        handler_error=True,
        subagent_wrong="triage",
        contract_change=True,
        events_out_of_order=True,
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
        ("handler_error=1", "fault 'handler_error' takes no value: write --fault handler_error"),
        ("contract_change=title", "fault 'contract_change' takes no value"),
        ("events_out_of_order=yes", "fault 'events_out_of_order' takes no value"),
        (
            "subagent_wrong",
            "fault 'subagent_wrong' needs a value: write --fault subagent_wrong=NAME",
        ),
        (
            "subagent_wrong=billing",
            "unknown sub-agent 'billing' for fault subagent_wrong: valid sub-agents are "
            "triage, data, optimization, reporting, general, e.g. --fault subagent_wrong=data",
        ),
        (
            "subagent_wrong=general",
            "sub-agent 'general' answers about no service, so it cannot answer about the wrong "
            "one: fault subagent_wrong takes triage, data, optimization, reporting, "
            "e.g. --fault subagent_wrong=data",
        ),
    ],
)
def test_bad_faults_are_refused_in_one_line(arg: str, message: str) -> None:
    """An unknown fault or a bad value raises one line that says what to write instead."""
    with pytest.raises(StackError) as caught:
        parse_faults([arg])
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("subagent_hang", "subagent_error"),
        ("subagent_hang", "subagent_wrong"),
        ("subagent_error", "subagent_wrong"),
    ],
)
def test_one_sub_agent_gets_one_sub_agent_fault(first: str, second: str) -> None:
    """A sub-agent named by two sub-agent faults is refused in one line naming both and it;
    two sub-agents may each have their own."""
    with pytest.raises(StackError) as caught:
        parse_faults([f"{first}=data", f"{second}=data"])
    assert str(caught.value) == (
        f"faults {first} and {second} both name 'data': a sub-agent either hangs, fails or "
        "answers wrong, give it one of them"
    )
    both = parse_faults([f"{first}=data", f"{second}=reporting"])
    assert (getattr(both, first), getattr(both, second)) == ("data", "reporting")


def test_revision_faults_ship_in_the_backends_image_only() -> None:
    """The code defects are the backend's image's, in command-line form; the infrastructure
    faults are no image's."""
    faults = parse_faults(
        ["redis_down", "handler_error", "subagent_wrong=data", "db_slow=10", "contract_change"]
    )
    assert faults.in_image("backend") == ("handler_error", "subagent_wrong=data", "contract_change")
    assert faults.in_image("auth") == ()
    infrastructure = parse_faults(["redis_down", "missing_secret", "missing_module", "ws_drop=1"])
    assert infrastructure.in_image("backend") == ()
    assert {spec.name for spec in FAULTS if spec.revision} == {
        "handler_error",
        "subagent_wrong",
        "contract_change",
        "events_out_of_order",
    }


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
