"""The backend's life on real processes: started before PostgreSQL it retries with backoff and
reports starting (503, with the reason) until the database answers, then ready; on a real
SIGTERM it drains: the run in flight finishes, new sessions and runs are refused with close
code 1012, and a run that outlives the grace period is failed with an agent_error, not dropped."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpcore
import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from reference_platform import servers, stack
from tests.integration.conftest import StartStack
from tests.integration.helpers import log_entries, login, wait_for

pytestmark = pytest.mark.integration
DELAY_S = 1.5  # PostgreSQL starts this long after the backend answers


def backend_process(state: stack.State) -> psutil.Process:
    """The backend's process."""
    return psutil.Process(next(p.pid for p in state.processes if p.name == "backend"))


def session(opened: contextlib.ExitStack, state: stack.State, token: str) -> ClientConnection:
    """An open session whose greeting was read, closed when ``opened`` closes."""
    url = f"{state.urls['websocket']}?token={token}"
    ws = opened.enter_context(connect(url, open_timeout=5, close_timeout=2))
    assert json.loads(ws.recv(timeout=5))["type"] == "connected"
    return ws


def until_closed(ws: ClientConnection, timeout_s: float = 10.0) -> tuple[list[dict[str, Any]], Any]:
    """Every event up to the close, and the close frame the server sent."""
    events: list[dict[str, Any]] = []
    while True:
        try:
            events.append(json.loads(ws.recv(timeout=timeout_s)))
        except ConnectionClosed as closed:
            return events, closed.rcvd


def ends_run(event: dict[str, Any]) -> bool:
    """The last event of a run: the final agent_completed, or an agent_error."""
    final = event["type"] == "agent_completed" and bool(event.get("final", True))
    return final or event["type"] == "agent_error"


def probe_while(
    starting: concurrent.futures.Future[stack.State], port: int
) -> tuple[list[tuple[int, int, dict[str, Any]]], httpx.Response | None, Any]:
    """Polls /health and /health/ready until the start returns; the first time the backend
    says it is starting, also calls the API and opens a session. The (live status, ready
    status, ready body) seen, the API's answer and the session's close frame."""
    backend = f"http://{servers.HOST}:{port}"
    seen: list[tuple[int, int, dict[str, Any]]] = []
    api = closed = None
    while not starting.done():
        try:
            live = httpx.get(f"{backend}/health", timeout=1.0)
            ready = httpx.get(f"{backend}/health/ready", timeout=1.0)
        # Not listening yet. httpcore's own error too: once, under a full suite's load, a
        # refused connect came out of httpx.get unmapped (httpx maps it to TransportError).
        except (httpx.TransportError, httpcore.ConnectError):
            time.sleep(0.02)
            continue
        seen.append((live.status_code, ready.status_code, ready.json()))
        if ready.json()["status"] == "starting" and api is None:
            api = httpx.get(f"{backend}/api/threads", timeout=1.0)
            with connect(f"ws://{servers.HOST}:{port}/ws?token=x") as ws:
                _, closed = until_closed(ws)
        time.sleep(0.05)
    return seen, api, closed


def test_a_backend_started_before_postgres_reports_starting_then_ready(
    start_stack: StartStack,
) -> None:
    """While PostgreSQL is not up: /health 200, /health/ready 503 "starting" with the reason,
    the API 503 with Retry-After, a session closed with 1013; the log shows tries with growing
    waits; once PostgreSQL answers: ready 200 with the startup's record, and the API serves."""
    backend_port = servers.free_port()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(start_stack, backend_port=backend_port, postgres_delay_s=DELAY_S)
        seen, api, closed = probe_while(starting, backend_port)
        state = starting.result()

    starting_answers = [body for _, status, body in seen if body["status"] == "starting"]
    assert len(starting_answers) >= 3, seen
    assert {live for live, _, _ in seen} == {200}
    assert {status for _, status, body in seen if body["status"] == "starting"} == {503}
    reasons = [body["reason"] for body in starting_answers]
    assert any(
        re.fullmatch(
            r"starting: waiting for the database, attempt \d+ failed \(ConnectionRefusedError: "
            r".*\); next try in 0\.\d\d s",
            reason,
        )
        for reason in reasons
    ), reasons
    assert all(body["dependencies"]["postgres"]["status"] == "down" for body in starting_answers)
    assert api is not None
    assert api.status_code == 503
    assert api.headers["retry-after"] == "1"
    assert api.json()["error"].startswith("backend is starting: ")
    assert closed is not None
    assert (closed.code, closed.reason) == (1013, "backend is starting: try again later")

    ready = httpx.get(f"{state.urls['backend']}/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert "reason" not in body
    assert body["startup"]["attempts"] >= 3
    assert body["startup"]["waited_s"] >= DELAY_S
    assert httpx.get(f"{state.urls['backend']}/health").json()["phase"] == "serving"
    token = login(state.urls["auth"])
    listed = httpx.get(
        f"{state.urls['backend']}/api/threads", headers={"authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200

    assert_backoff_logged(log_entries(state, "backend"))


def assert_backoff_logged(entries: list[dict[str, Any]]) -> None:
    """The backend logged its failed tries as warnings, waiting longer each time (up to the
    cap), and logged no error of its own."""
    tries = [
        re.search(r"^database not ready \(attempt \d+: .*\); retrying in ([\d.]+) s$", e["message"])
        for e in entries
        if e["logger"] == "backend" and e["severity"] == "WARNING"
    ]
    waits = [float(match.group(1)) for match in tries if match]
    assert len(waits) >= 3, tries
    assert waits == sorted(waits), waits  # exponential backoff, capped
    assert waits[0] < 0.1 < max(waits) <= 0.5
    assert not [
        e for e in entries if e["logger"] == "backend" and e["severity"] not in ("INFO", "WARNING")
    ]


def test_sigterm_lets_the_run_in_flight_finish_and_refuses_new_work(
    start_stack: StartStack,
) -> None:
    """SIGTERM during a run: ready says draining (503), a new run on another session and a new
    session are refused with close code 1012 saying the server is shutting down, the run in
    flight completes (its answer stored), and the process then exits."""
    state = start_stack(agent_step_ms=150)
    token = login(state.urls["auth"])
    with contextlib.ExitStack() as opened:
        running, idle = session(opened, state, token), session(opened, state, token)
        drain_with_a_run_in_flight(state, token, running, idle)


def drain_with_a_run_in_flight(
    state: stack.State, token: str, running: ClientConnection, idle: ClientConnection
) -> None:
    """The SIGTERM test's steps, on its two open sessions."""
    running.send(json.dumps({"type": "user_message", "content": "What is the cost trend?"}))
    assert json.loads(running.recv(timeout=5))["type"] == "agent_started"
    process = backend_process(state)
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()

    # The signal is handled on the backend's event loop: seen by the next requests, not before.
    def draining() -> httpx.Response | None:
        answer = httpx.get(f"{state.urls['backend']}/health/ready")
        return answer if answer.status_code == 503 else None

    ready = wait_for(draining)
    assert ready is not None
    assert ready.json()["status"] == "draining"
    assert ready.json()["reason"] == "server is shutting down: 1 agent run(s) finishing"
    assert httpx.get(f"{state.urls['backend']}/health").json()["phase"] == "draining"

    idle.send(json.dumps({"type": "user_message", "content": "A new run"}))
    refused, close = until_closed(idle)
    assert [e["type"] for e in refused] == ["agent_error"]
    assert refused[0]["code"] == "server_shutting_down"
    assert refused[0]["error"].startswith("server is shutting down: it accepts no new agent runs")
    assert (close.code, close.reason) == (1012, "server is shutting down")
    with connect(f"{state.urls['websocket']}?token={token}") as late:
        _, late_close = until_closed(late)
    assert (late_close.code, late_close.reason) == (1012, "server is shutting down")

    events, close = until_closed(running)
    ended = [e for e in events if ends_run(e)]
    assert [e["type"] for e in ended] == ["agent_completed"], [e["type"] for e in events]
    assert ended[0]["message_id"]  # stored before it was sent
    assert close.code == 1012
    process.wait(timeout=5)
    assert time.monotonic() - sent < 2.0 + 2.0  # within the grace period, plus uvicorn's close
    messages = [e["message"] for e in log_entries(state, "backend")]
    assert "shutting down: 1 agent run(s) finished, 0 stopped" in messages


def test_a_run_that_outlives_the_grace_period_is_failed_with_an_agent_error(
    start_stack: StartStack,
) -> None:
    """Under agent_hang with a 0.5 s grace period, SIGTERM ends the hung run with an
    agent_error naming the shutdown and close code 1012, and the process exits soon after."""
    state = start_stack("agent_hang", shutdown_grace_s=0.5)
    with contextlib.ExitStack() as opened:
        running = session(opened, state, login(state.urls["auth"]))
        running.send(json.dumps({"type": "user_message", "content": "This will hang"}))
        while json.loads(running.recv(timeout=5))["type"] != "agent_thinking":
            pass
        process = backend_process(state)
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        events, close = until_closed(running)
    failed_after = time.monotonic() - sent
    assert events[-1]["type"] == "agent_error", events
    assert events[-1]["code"] == "server_shutting_down"
    assert events[-1]["error"] == (
        "server is shutting down: the agent run did not finish within the 0.5 s grace period; "
        "retry on a new session"
    )
    assert (close.code, close.reason) == (1012, "server is shutting down")
    assert 0.4 < failed_after < 2.0
    process.wait(timeout=5)
    assert time.monotonic() - sent < 3.0


def test_stop_does_not_wait_for_the_grace_period_when_no_run_is_in_flight(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """An idle platform with a 5 s grace period stops in well under 5 s, every process gone."""
    state = start_stack(state_dir=tmp_path, shutdown_grace_s=5)
    processes = [psutil.Process(p.pid) for p in state.processes]
    began = time.monotonic()
    assert sorted(stack.stop(tmp_path)) == ["auth", "backend", "postgres", "redis"]
    assert time.monotonic() - began < 3.0
    assert stack.wait_gone(processes, 1.0) == []
