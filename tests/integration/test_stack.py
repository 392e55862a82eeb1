"""The stack's life: start prints and records URLs, a second start or a busy port is refused in
one line, revisions count up across starts, and stop leaves no process behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from reference_platform import StackError, revisions, servers, stack
from tests.integration.conftest import StartStack

pytestmark = pytest.mark.integration


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m reference_platform`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "reference_platform", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state directory whose stack is stopped after the test, whatever happened in it."""
    yield tmp_path
    stack.stop(tmp_path)


def test_cli_start_status_stop_leaves_no_process(state_dir: Path) -> None:
    """start prints the URLs and writes them; status says what runs; stop ends every process."""
    tmp_path = state_dir
    started = cli(tmp_path, "start")
    assert started.returncode == 0, started.stderr
    recorded = json.loads((tmp_path / stack.STATE_FILE).read_text())
    for name in ("backend", "websocket", "auth"):
        assert recorded["urls"][name] in started.stdout
    recorded_processes = [psutil.Process(p["pid"]) for p in recorded["processes"]]
    every_process = recorded_processes + [
        child for proc in recorded_processes for child in proc.children(recursive=True)
    ]
    assert len(every_process) > len(recorded_processes)  # PostgreSQL's workers count too

    second = cli(tmp_path, "start")
    assert second.returncode == 1
    assert second.stderr.startswith("error: the stack is already running here")
    assert second.stderr.count("\n") == 1

    status = cli(tmp_path, "status")
    assert status.returncode == 0
    assert status.stdout.count("running") == 4

    stopped = cli(tmp_path, "stop")
    assert stopped.returncode == 0
    assert not [p for p in every_process if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not any(servers.port_open(port) for port in recorded["ports"].values())
    assert not Path(recorded["data_dir"]).exists()
    assert cli(tmp_path, "status").returncode == 3
    assert cli(tmp_path, "stop").stdout.strip() == "the stack was not running"


def test_bad_fault_is_refused_with_exit_2_and_the_valid_list(state_dir: Path) -> None:
    """An unknown fault starts nothing and names the valid ones."""
    result = cli(state_dir, "start", "--fault", "redis_off")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown fault 'redis_off': valid faults are redis_down, db_slow=MS, "
        "missing_secret, agent_hang, subagent_hang=NAME, subagent_error=NAME, ws_drop=RATE, "
        "missing_module, handler_error, subagent_wrong=NAME, contract_change, events_out_of_order"
    )
    assert not (state_dir / stack.STATE_FILE).exists()


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """A busy --backend-port is one line naming the port and the way out; nothing is left."""
    with socket.socket() as busy:
        busy.bind((servers.HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StackError, match=f"^port {port} for backend is in use: free it"):
            stack.start(stack.Options(state_dir=tmp_path, backend_port=port))
    assert not (tmp_path / stack.STATE_FILE).exists()


def test_a_dependency_that_dies_at_start_gives_one_line_with_its_log(tmp_path: Path) -> None:
    """A server process that exits while starting is reported with its last log line."""
    log_path = tmp_path / "dep.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "print('FATAL: no space left'); exit(3)"], stdout=log
        )
        with pytest.raises(StackError) as caught:
            servers.wait_until(lambda: False, proc, "postgres", log_path, deadline=1e12)
    assert str(caught.value) == (
        f"postgres failed to start (exit 3): FATAL: no space left (log: {log_path})"
    )


def test_revisions_count_up_across_starts_and_keep_the_previous(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """Each start is a new revision per service; the previous document stays for the diff."""
    first = start_stack("db_slow=10", state_dir=tmp_path)
    stack.stop(tmp_path)
    second = start_stack(state_dir=tmp_path)
    for service in ("backend", "auth"):
        docs = revisions.revisions(tmp_path, service)
        names = [revisions.short_name(d["name"]) for d in docs]
        assert names == [first.revisions[service], second.revisions[service]]
        assert names[0].startswith(f"{service}-00001-")
        assert names[1].startswith(f"{service}-00002-")
        assert docs[1]["createTime"] > docs[0]["createTime"]
    backend = revisions.revisions(tmp_path, "backend")
    env_names = [{e["name"] for e in d["containers"][0]["env"]} for d in backend]
    assert env_names[0] - env_names[1] == {"DB_SLOW_MS"}
    service = json.loads((tmp_path / "services" / "backend.json").read_text())
    assert service["latestReadyRevision"].endswith(second.revisions["backend"])
    assert service["generation"] == "2"
