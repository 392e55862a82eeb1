"""The platform's switchable faults, parsed from ``--fault NAME[=VALUE]`` arguments.

A fault is chosen when the stack starts and holds until it stops, like a bad deploy would.
Parsing is pure so that an unknown name or a bad value is refused before anything starts.

Two kinds: an *infrastructure* fault breaks what the code runs on (a dependency down or slow,
a secret or module missing from the configuration) and leaves every image as it was; a
*revision* fault is a defect in one service's code (a handler bug, a wrong answer, a renamed
field, events out of order), so it ships in that service's image: its digest changes in the
revision document, and nothing in the revision's env says so.

With a baseline beside the candidate (``start --baseline``), a fault is scoped as on Cloud
Run. A *shared* fault is in a dependency every revision runs on (Redis, PostgreSQL, the
network before the sessions, a sub-agent's external source, the model provider the agent
pipeline waits on): it hits both. Every other fault belongs to one revision, its code or its
configuration (a secret or module missing from the revision's env): it hits the candidate
only, unless written ``NAME@baseline``, a defect the baseline already shipped.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable

from reference_platform._errors import StackError
from reference_platform.agent import DOMAIN_SUBAGENTS, SUBAGENTS

SUBAGENT_FAULTS = ("subagent_hang", "subagent_error", "subagent_wrong")
BASELINE = "baseline"  # the scope of ``NAME@baseline``: the fault hits the baseline too


@dataclasses.dataclass(frozen=True)
class FaultSpec:
    """One kind of fault: its name, what its value means, and how to read it."""

    name: str
    help: str
    value: str | None = None  # the meaning of the value, or None for a plain switch
    image: str = ""  # a revision fault: the service whose code (image) carries it
    shared: bool = False  # in a dependency every revision runs on: hits the baseline too

    @property
    def revision(self) -> bool:
        """Whether it is a defect of a service's code rather than of its infrastructure."""
        return bool(self.image)


FAULTS: tuple[FaultSpec, ...] = (
    FaultSpec("redis_down", "Redis is not running: its port is closed", shared=True),
    FaultSpec(
        "db_slow", "every database query is delayed by MS milliseconds", value="MS", shared=True
    ),
    FaultSpec("missing_secret", "auth starts without JWT_SECRET: issuing a token fails with 500"),
    # What the pipeline waits on after its thinking (the model provider) never answers.
    FaultSpec("agent_hang", "the agent pipeline starts but never completes", shared=True),
    FaultSpec(
        "subagent_hang",
        f"that sub-agent ({', '.join(SUBAGENTS)}) starts and never completes; "
        "requests that do not need it are answered",
        value="NAME",
        shared=True,
    ),
    FaultSpec(
        "subagent_error",
        "that sub-agent's tools find their source down: its run ends with an agent_error naming it",
        value="NAME",
        shared=True,
    ),
    FaultSpec(
        "ws_drop",
        "that fraction of agent answers is cut off mid-stream, closing the session with 1011 "
        "(evenly spread: with 0.3, three answers in ten)",
        value="RATE",
        shared=True,
    ),
    FaultSpec("missing_module", "the backend fails at import; every backend URL answers 503"),
    FaultSpec(
        "handler_error",
        "a code defect: POST /api/threads raises AttributeError (500, traceback logged)",
        image="backend",
    ),
    FaultSpec(
        "subagent_wrong",
        "a code defect: that sub-agent answers about the wrong service (2xx, nothing logged)",
        value="NAME",
        image="backend",
    ),
    FaultSpec(
        "contract_change",
        "a code defect: the backend's messages carry 'text' where clients read 'content'",
        image="backend",
    ),
    FaultSpec(
        "events_out_of_order",
        "a code defect: each sub-agent's agent_thinking arrives after its first tool_executing",
        image="backend",
    ),
)
_BY_NAME = {spec.name: spec for spec in FAULTS}


def dropped(answer: int, rate: float) -> bool:
    """Whether the ``answer``-th answer (from 1) is cut off under ``ws_drop=rate``: spread
    evenly rather than drawn at random, so a fault run gives the same diagnosis every time
    (exactly ``floor(n * rate)`` of the first n answers)."""
    nudge = 1e-9  # 0.3 * 10 is 2.9999... in binary: count it as the 3 it means
    return math.floor(answer * rate + nudge) > math.floor((answer - 1) * rate + nudge)


@dataclasses.dataclass(frozen=True)
class Faults:
    """The faults of one stack start; the defaults are a healthy platform."""

    redis_down: bool = False
    db_slow_ms: int = 0
    missing_secret: bool = False
    agent_hang: bool = False
    subagent_hang: str = ""  # the sub-agent that hangs, "" for none
    subagent_error: str = ""  # the sub-agent whose tools fail, "" for none
    ws_drop_rate: float = 0.0
    missing_module: bool = False
    handler_error: bool = False
    subagent_wrong: str = ""  # the sub-agent that answers about the wrong service
    contract_change: bool = False
    events_out_of_order: bool = False
    # The revision's own faults (by name) that the baseline shipped too (``NAME@baseline``).
    on_baseline: frozenset[str] = frozenset()

    def names(self) -> list[str]:
        """The active faults as they are written on the command line."""
        return [
            f"{name}@{BASELINE}" if _name(name) in self.on_baseline else name
            for name in self._active()
        ]

    def _active(self) -> list[str]:
        active = []
        if self.redis_down:
            active.append("redis_down")
        if self.db_slow_ms:
            active.append(f"db_slow={self.db_slow_ms}")
        if self.missing_secret:
            active.append("missing_secret")
        if self.agent_hang:
            active.append("agent_hang")
        if self.subagent_hang:
            active.append(f"subagent_hang={self.subagent_hang}")
        if self.subagent_error:
            active.append(f"subagent_error={self.subagent_error}")
        if self.ws_drop_rate:
            active.append(f"ws_drop={self.ws_drop_rate:g}")
        if self.missing_module:
            active.append("missing_module")
        if self.handler_error:
            active.append("handler_error")
        if self.subagent_wrong:
            active.append(f"subagent_wrong={self.subagent_wrong}")
        if self.contract_change:
            active.append("contract_change")
        if self.events_out_of_order:
            active.append("events_out_of_order")
        return active

    def in_image(self, service: str) -> tuple[str, ...]:
        """The revision faults that ship in the service's image, as written on the command
        line (what its image digest hashes beside its code)."""
        return tuple(name for name in self._active() if _BY_NAME[_name(name)].image == service)

    def for_baseline(self) -> Faults:
        """The faults the baseline revision runs under: the shared ones, and those of its own
        that it shipped too (``NAME@baseline``); they hit the baseline only, so none is
        scoped further."""
        kept = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "on_baseline"
            and (_field_spec(field.name).shared or _field_spec(field.name).name in self.on_baseline)
        }
        return Faults(**kept)


def valid_faults() -> str:
    """The list of valid faults, as an error message ends with it."""
    return ", ".join(f"{s.name}={s.value}" if s.value else s.name for s in FAULTS)


def parse_faults(args: Iterable[str]) -> Faults:
    """Reads ``NAME`` or ``NAME=VALUE`` items; raises StackError naming the bad one."""
    values: dict[str, object] = {}
    on_baseline: set[str] = set()
    for raw in args:
        written, at, scope = raw.strip().partition("@")
        name, sep, value = written.partition("=")
        spec = _BY_NAME.get(name)
        if spec is None:
            raise StackError(f"unknown fault {name!r}: valid faults are {valid_faults()}")
        if at:
            _check_scope(spec, written, scope)
            on_baseline.add(name)
        if spec.value is None and sep:
            raise StackError(f"fault {name!r} takes no value: write --fault {name}")
        if spec.value is not None and not sep:
            raise StackError(f"fault {name!r} needs a value: write --fault {name}={spec.value}")
        if name == "db_slow":
            values["db_slow_ms"] = _parse_ms(value)
        elif name == "ws_drop":
            values["ws_drop_rate"] = _parse_rate(value)
        elif name in ("subagent_hang", "subagent_error"):
            values[name] = _parse_subagent(name, value)
        elif name == "subagent_wrong":
            values[name] = _parse_answering_subagent(value)
        else:
            values[name] = True
    named = [(fault, values[fault]) for fault in SUBAGENT_FAULTS if values.get(fault)]
    for (first, agent), (second, other) in itertools.combinations(named, 2):
        if agent == other:
            raise StackError(
                f"faults {first} and {second} both name {agent!r}: a sub-agent either hangs, "
                "fails or answers wrong, give it one of them"
            )
    return Faults(**values, on_baseline=frozenset(on_baseline))  # type: ignore[arg-type]


def _check_scope(spec: FaultSpec, written: str, scope: str) -> None:
    if scope != BASELINE:
        raise StackError(
            f"unknown scope {scope!r} in --fault {written}@{scope}: the only scope is "
            f"@{BASELINE}, e.g. --fault {written}@{BASELINE}"
        )
    if spec.shared:
        raise StackError(
            f"fault {spec.name} is in a dependency both revisions share, so it hits the "
            f"baseline already: write --fault {written}"
        )


def _name(written: str) -> str:
    return written.partition("=")[0].partition("@")[0]


def _field_spec(field: str) -> FaultSpec:
    """The fault a field of Faults switches (``db_slow_ms`` is ``db_slow``'s)."""
    return _BY_NAME[{"db_slow_ms": "db_slow", "ws_drop_rate": "ws_drop"}.get(field, field)]


def _parse_ms(value: str) -> int:
    try:
        ms = int(value)
    except ValueError:
        ms = -1
    if not 1 <= ms <= 600_000:
        raise StackError(
            f"bad value {value!r} for fault db_slow: give whole milliseconds from 1 to 600000, "
            "e.g. --fault db_slow=5000"
        )
    return ms


def _parse_rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0.0 < rate <= 1.0:
        raise StackError(
            f"bad value {value!r} for fault ws_drop: give a fraction above 0 and at most 1, "
            "e.g. --fault ws_drop=0.5"
        )
    return rate


def _parse_subagent(fault: str, value: str) -> str:
    if value not in SUBAGENTS:
        raise StackError(
            f"unknown sub-agent {value!r} for fault {fault}: valid sub-agents are "
            f"{', '.join(SUBAGENTS)}, e.g. --fault {fault}=data"
        )
    return value


def _parse_answering_subagent(value: str) -> str:
    name = _parse_subagent("subagent_wrong", value)
    if name not in DOMAIN_SUBAGENTS:
        raise StackError(
            f"sub-agent {name!r} answers about no service, so it cannot answer about the wrong "
            f"one: fault subagent_wrong takes {', '.join(DOMAIN_SUBAGENTS)}, "
            "e.g. --fault subagent_wrong=data"
        )
    return name
