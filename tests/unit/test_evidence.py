"""The evidence a failure is judged on (where, the service's answer, what changed) and the
class and cause it leads to; the suite's own defects counted honestly."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from ci_tools import config as cfg
from ci_tools.context.model import (
    Context,
    Deployed,
    LogLine,
    RevisionInfo,
    ServiceContext,
    TestContext,
)
from ci_tools.defects import suite_defect
from ci_tools.diagnose import APPLICATION, INFRASTRUCTURE, TEST, diagnose
from ci_tools.diagnose.escalation import run_facts
from ci_tools.diagnose.evidence import answers, changes, error_lines, gather
from ci_tools.phases import GateResult, evaluate_gate
from ci_tools.records import Failure, PhaseRecords, TestRecord
from tests.fakes.records import make_record

TRACEBACK = """unhandled error in GET /api/threads: AttributeError: 'NoneType' object has no \
attribute 'id'
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/starlette/routing.py", line 74, in app
    response = await f(request)
  File "/venv/lib/python3.11/site-packages/asyncpg/pool.py", line 10, in fetch
    return await handler(request)
  File "/srv/app/backend.py", line 120, in list_threads
    return [t.id for t in await self.store.fetch(user)]
AttributeError: 'NoneType' object has no attribute 'id'"""

REDIS_TRACEBACK = """dependency error in POST /api/threads: ConnectionError: Error 111
Traceback (most recent call last):
  File "/srv/app/backend.py", line 245, in create
    await self.store.redis.setex(key, 3600, user)
  File "/venv/lib/python3.11/site-packages/redis/asyncio/client.py", line 979, in execute
    conn = self.connection
  File "/usr/lib/python3.11/asyncio/streams.py", line 48, in open_connection
    transport, _ = await loop.create_connection(
ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 6379)"""


def config() -> cfg.Config:
    """The project's own configuration."""
    return cfg.load(Path(__file__).resolve().parents[2] / "pyproject.toml")


def failing(
    name: str,
    message: str,
    kind: str = "AssertionError",
    *,
    areas: tuple[str, ...] = ("threads",),
    frame: str = "test",
    where: str = "tests/e2e/phase2/test_threads.py:10 in test_x",
    library: str = "",
    outcome: str = "failed",
    priority: str = "P1",
) -> TestRecord:
    """A failed record with where it was raised."""
    failure = Failure(kind, message, where=where, frame=frame, library=library)  # type: ignore[arg-type]
    return make_record(
        name, outcome=outcome, failure=failure, areas=areas, priority=priority, phase=2
    )


def line(service: str, message: str, severity: str = "INFO", status: int | None = None) -> LogLine:
    """One log line of a test's own request."""
    return LogLine("2026-12-05T10:00:00Z", severity, service, message, "trace", status)


def revision(name: str, image: str) -> RevisionInfo:
    """A serving revision with an image digest."""
    return RevisionInfo(name, "2026-12-05T09:00:00Z", "img", image, (), {}, {}, "300s", "sa", ())


def service(role: str, serving: str, history: dict[str, str]) -> ServiceContext:
    """A service serving ``serving``, with the images of its listed revisions."""
    return ServiceContext(
        role=role,
        name=role,
        revision=revision(serving, history[serving]),
        deployed=tuple(Deployed(n, image, "cfg") for n, image in history.items()),
    )


def context(
    tests: dict[str, tuple[LogLine, ...]], *, backend_image_changed: bool = False
) -> Context:
    """Backend and auth, each serving revision 2 of 2, with the tests' own log lines; only
    the backend's image may differ from its revision 1."""
    backend = {"backend-1": "sha:a", "backend-2": "sha:b" if backend_image_changed else "sha:a"}
    auth = {"auth-1": "sha:x", "auth-2": "sha:x"}
    return Context(
        "2026-12-05T10:01:00Z",
        "staging",
        "local",
        "p",
        "r",
        None,
        None,
        len(tests),
        {},
        (service("backend", "backend-2", backend), service("auth", "auth-2", auth)),
        tuple(TestContext(n, 2, ("trace",), (), logs) for n, logs in tests.items()),
    )


HEALTHY = {"backend": "backend-1", "auth": "auth-1"}


def gates(status: str = "met") -> list[GateResult]:
    """One gate of phase 2."""
    return [GateResult(2, "critical", status, "")]  # type: ignore[arg-type]


def test_error_lines_keep_exception_lines_and_the_library_below_the_code() -> None:
    """Frames are dropped; each exception line is kept with the installed package the
    service's code called when it was raised (none for the code's own bug, whatever
    libraries are on the stack above it)."""
    assert error_lines(TRACEBACK) == (
        "unhandled error in GET /api/threads: AttributeError: 'NoneType' object has no "
        "attribute 'id'",
        "AttributeError: 'NoneType' object has no attribute 'id'",
    )
    assert error_lines(REDIS_TRACEBACK)[-1].startswith("redis: ConnectionRefusedError")


def test_answers_name_the_worst_status_its_endpoint_and_the_error() -> None:
    """Request lines give status and route (ids as {id}); the error line is reduced."""
    found = answers(
        (
            line("backend", "GET /api/threads/1234 200", status=200),
            line("backend", TRACEBACK, "ERROR"),
            line("backend", "POST /api/threads/1234/messages 500", "ERROR", 500),
        )
    )
    assert [(a.service, a.status, a.endpoint) for a in found] == [
        ("backend", 500, "POST /api/threads/{id}/messages")
    ]
    assert found[0].error.startswith("unhandled error in GET /api/threads: AttributeError")


def test_changes_compare_each_service_with_its_last_healthy_revision() -> None:
    """The backend's new image shows; auth, whose own image did not change, does not."""
    found = changes(context({}, backend_image_changed=True), HEALTHY)
    assert found["backend"].text == "backend image changed since backend-1 (healthy)"
    assert found["auth"].text == "auth image and config unchanged since auth-1 (healthy)"


def test_a_handler_error_behind_a_500_is_application_even_with_redis_down() -> None:
    """The request's own AttributeError under a 500 stays an application cause naming the
    endpoint, beside the Redis root; both lead the summary."""
    bug = [failing(f"bug{i}", "assert 500 == 200") for i in range(3)]
    redis = [
        failing(
            f"redis{i}",
            "Error 111 connecting to 127.0.0.1:6379",
            "ConnectionError",
            areas=("redis", "threads"),
            library="redis",
        )
        for i in range(2)
    ]
    logs = (
        line("auth", "POST /api/login 200", status=200),
        line("backend", TRACEBACK, "ERROR"),
        line("backend", "GET /api/threads 500", "ERROR", 500),
    )
    ctx = context({r.nodeid: logs for r in bug})
    result = diagnose(config(), gates("not_met"), [*bug, *redis], ctx, healthy_revisions=HEALTHY)
    classes = {c.title: c.failure_class for c in result.headlines}
    assert classes == {
        "Redis unreachable (connection refused)": INFRASTRUCTURE,
        "backend GET /api/threads fails with 500 (AttributeError)": APPLICATION,
    }
    assert result.verdict == "unhealthy"
    # The cause shows the worst answer (the backend's 500), not the first (auth's login).
    handler = next(c for c in result.causes if c.failure_class == APPLICATION)
    answered = [e for e in handler.evidence if " answered " in e]
    assert answered
    assert answered[0].startswith("backend answered 500 to GET /api/threads")


def test_wrong_content_from_an_unchanged_platform_points_at_the_test() -> None:
    """A 200 with no error under a failed assertion, every service unchanged since the last
    healthy run: the test's expectation, and the deploy is not held back for it."""
    wrong = failing("wrong", "assert 'Hello' == 'Bonjour'")
    logs = (line("backend", "GET /api/threads 200", status=200),)
    result = diagnose(
        config(), gates(), [wrong], context({wrong.nodeid: logs}), healthy_revisions=HEALTHY
    )
    assert [(c.failure_class, c.part) for c in result.causes] == [(TEST, "the suite")]
    assert result.verdict == "suite_broken"
    assert result.escalation.level == "none"
    assert any("unchanged since backend-1 (healthy)" in e for e in result.causes[0].evidence)


def test_wrong_content_from_a_changed_image_names_the_sub_agent_in_one_group() -> None:
    """The same evidence after the backend's image changed: the deployed code, named by the
    failing tests' sub-agent, every assertion in one group."""
    wrong = [failing(f"w{i}", f"assert {i} == 42", areas=("agent", "agent.data")) for i in range(5)]
    logs = (line("backend", "GET /ws 101", status=101),)
    ctx = context({r.nodeid: logs for r in wrong}, backend_image_changed=True)
    result = diagnose(config(), gates("not_met"), wrong, ctx, healthy_revisions=HEALTHY)
    assert [(c.title, c.failure_class) for c in result.causes] == [
        ("Data sub-agent answers wrong content", APPLICATION)
    ]
    assert len(result.groups) == 1
    assert "backend image changed since backend-1 (healthy)" in result.causes[0].evidence


def test_with_no_change_known_a_2xx_under_a_failed_assertion_is_the_test() -> None:
    """No healthy run to compare with (a first run): the answer decides. Every request got a
    2xx with no error logged, the suite's assertion failed: its expectation, named so."""
    wrong = failing("wrong", "assert 'ok' == 'healthy'")
    logs = (line("backend", "GET /api/health 200", status=200),)
    result = diagnose(config(), gates(), [wrong], context({wrong.nodeid: logs}))
    assert [(c.title, c.failure_class) for c in result.causes] == [
        (
            "Test expects what the platform does not do in tests/e2e/phase2/test_threads.py "
            "(it answered 200, no error logged)",
            TEST,
        )
    ]
    assert result.verdict == "suite_broken"


def test_with_no_change_known_a_refused_request_is_the_suite_and_a_changed_image_the_code() -> None:
    """A helper's request answered 404 with no error logged: the suite's request when nothing
    changed; the same answer after the backend's image changed is a contract change."""
    broken = failing(
        "path",
        "read messages: HTTP 404",
        frame="helper",
        where="tests/e2e/client.py:96 in messages",
    )
    logs = (line("backend", "GET /api/thread/t1/messages 404", status=404),)
    before = diagnose(config(), gates(), [broken], context({broken.nodeid: logs}))
    assert before.causes[0].failure_class == TEST
    assert before.causes[0].title.startswith(
        "Suite's request refused in tests/e2e/client.py: GET /api/thread/"
    )
    after = diagnose(
        config(),
        gates("not_met"),
        [broken],
        context({broken.nodeid: logs}, backend_image_changed=True),
        healthy_revisions=HEALTHY,
    )
    assert after.causes[0].failure_class == APPLICATION
    assert after.causes[0].title.endswith("answers 404 (contract changed?)")


def test_a_division_by_zero_in_the_suite_is_a_suite_defect() -> None:
    """The suite's own arithmetic (a count never checked) raised in the test body."""
    broken = failing("zero", "division by zero", "ZeroDivisionError")
    assert suite_defect(broken)
    assert not suite_defect(failing("lib", "division by zero", "ZeroDivisionError", library="x"))


def test_a_missing_field_names_the_field_and_the_endpoint() -> None:
    """A KeyError on a 2xx answer, the image changed: a contract change naming both."""
    broken = failing(
        "f", "'title'", "KeyError", frame="helper", where="tests/e2e/client.py:40 in get"
    )
    logs = (line("backend", "GET /api/threads 200", status=200),)
    ctx = context({broken.nodeid: logs}, backend_image_changed=True)
    result = diagnose(config(), gates("not_met"), [broken], ctx, healthy_revisions=HEALTHY)
    assert (
        result.causes[0].title
        == "Field 'title' missing from the answer of backend GET /api/threads"
    )
    assert result.causes[0].failure_class == APPLICATION


def test_events_out_of_order_are_named_by_the_event_out_of_its_place() -> None:
    """pytest's comparison names the first event that differs; the events the test saw hold
    the expected one later: out of order, both named, every such test in one group."""
    traceback = "E         At index 1 diff: 'tool_executing' != 'agent_thinking'"
    seen = "events ['agent_started', 'tool_executing', 'agent_thinking', 'agent_completed']"
    wrong = [
        failing(f"e{i}", seen, areas=("agent", "websocket"), where=f"tests/e2e/t.py:{i}")
        for i in range(3)
    ]
    wrong = [
        dataclasses.replace(
            r, failure=dataclasses.replace(r.failure, traceback=traceback) if r.failure else None
        )
        for r in wrong
    ]
    logs = (line("backend", "GET /ws 101", status=101),)
    ctx = context({r.nodeid: logs for r in wrong}, backend_image_changed=True)
    result = diagnose(config(), gates("not_met"), wrong, ctx, healthy_revisions=HEALTHY)
    assert [(c.title, c.failure_class) for c in result.causes] == [
        (
            "WebSocket events out of order: 'tool_executing' arrives before 'agent_thinking'",
            APPLICATION,
        )
    ]
    missing = dataclasses.replace(
        wrong[0],
        failure=dataclasses.replace(
            wrong[0].failure, message="events ['agent_started', 'tool_executing']"
        )
        if wrong[0].failure
        else None,
    )
    result = diagnose(config(), gates("not_met"), [missing], ctx, healthy_revisions=HEALTHY)
    assert result.causes[0].title == (
        "WebSocket event 'agent_thinking' missing: 'tool_executing' arrives in its place"
    )


def test_one_renamed_field_is_one_cause_naming_every_endpoint_that_lacks_it() -> None:
    """The same field missing from two endpoints of the backend: one contract change, not
    one cause per endpoint."""
    create = failing("create", "'content'", "KeyError")
    read = failing("read", "'content'", "KeyError")
    logs: dict[str, tuple[LogLine, ...]] = {
        create.nodeid: (line("backend", "POST /api/threads 201", status=201),),
        read.nodeid: (line("backend", "GET /api/threads/42/messages 200", status=200),),
    }
    ctx = context(logs, backend_image_changed=True)
    result = diagnose(config(), gates("not_met"), [create, read], ctx, healthy_revisions=HEALTHY)
    assert [(c.title, c.failure_class) for c in result.causes] == [
        (
            "Field 'content' missing from the answers of backend GET /api/threads/{id}/messages "
            "and POST /api/threads",
            APPLICATION,
        )
    ]


def test_a_fixture_name_error_is_a_suite_defect_not_a_p1_outage() -> None:
    """43 P1 tests failing on a NameError in conftest.py: test class, no escalation, no
    priority at risk, the verdict says the suite is broken."""
    broken = [
        failing(
            f"p{i}",
            "name 'resonse' is not defined",
            "NameError",
            frame="fixture",
            where="tests/e2e/conftest.py:33 in user",
            outcome="error",
        )
        for i in range(43)
    ]
    passed = [make_record(f"ok{i}", priority="P1", phase=2) for i in range(40)]
    result = diagnose(config(), gates(), [*broken, *passed], None)
    assert result.verdict == "suite_broken"
    assert result.escalation.level == "none"
    assert result.at_risk == ()
    assert result.counts["suite_broken"] == 43
    assert result.causes[0].title == (
        "Suite defect in tests/e2e/conftest.py: NameError: name 'resonse' is not defined"
    )


def test_a_collection_error_is_a_suite_defect_and_the_gate_ignores_it() -> None:
    """A module that cannot be imported is a test failure the gate does not count."""
    module = make_record(
        "x",
        nodeid="tests/e2e/phase2/test_agents.py",
        outcome="error",
        failure=Failure(
            "ImportError",
            "cannot import name 'stream_events' from 'tests.e2e.client'",
            frame="collection",
        ),
        phase=2,
    )
    assert suite_defect(module)
    passed = [make_record(f"ok{i}", phase=2) for i in range(5)]
    phase = cfg.PhaseConfig(title="critical", min_pass_rate=1.0)
    gate = evaluate_gate(2, phase, config(), PhaseRecords((module, *passed), (), 0))
    assert gate.status == "met"
    assert gate.suite_defects == ("tests/e2e/phase2/test_agents.py",)
    result = diagnose(config(), [gate], [module, *passed], None)
    assert result.causes[0].title == (
        "Test module tests/e2e/phase2/test_agents.py cannot be collected (ImportError)"
    )
    assert result.verdict == "suite_broken"


def test_a_key_error_of_the_data_is_no_suite_defect() -> None:
    """A KeyError or an AttributeError of None raised in a helper may be the service's
    answer: not a suite defect by the record alone."""
    for kind, message in (
        ("KeyError", "'title'"),
        ("AttributeError", "'NoneType' object has no attribute 'id'"),
    ):
        assert not suite_defect(failing("k", message, kind, frame="helper"))
    assert suite_defect(
        failing(
            "t",
            "post() missing 1 required positional argument: 'body'",
            "TypeError",
            frame="helper",
        )
    )
    assert not suite_defect(failing("l", "name 'x' is not defined", "NameError", library="jinja2"))


def test_not_run_agent_tests_are_no_agent_outage() -> None:
    """Agent tests that never ran (pytest stopped) do not make the agent pipeline failed;
    one that failed with the rest stopped does."""
    stopped = [make_record(f"a{i}", outcome="not_run", areas=("agent",)) for i in range(3)]
    assert "agent_pipeline_failed" not in run_facts(stopped, True)
    failed = failing("f", "agent pipeline stalled", areas=("agent",))
    assert "agent_pipeline_failed" in run_facts([failed, *stopped], True)
    assert Counter(r.outcome for r in stopped) == {"not_run": 3}


def test_a_groups_evidence_shows_the_failed_answer_not_the_login_beside_it() -> None:
    """Of the services a test reached, the worst answer and the failed ones are shown; a
    login's 200 beside a 500 is left out."""
    logs = (
        line("auth", "POST /auth/login 200", status=200),
        line("backend", "POST /api/threads 500", "ERROR", 500),
    )
    shown = gather(None, logs, {}).lines()
    assert shown == ("backend answered 500 to POST /api/threads, no error logged",)
