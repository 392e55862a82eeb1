"""Starting, stopping and inspecting the whole platform: PostgreSQL, Redis, backend, auth.

``start`` launches every process in its own session, so they outlive the command that started
them, and writes ``stack.json`` in the state directory: URLs, ports, process ids, faults and
revisions (never a secret). ``stop`` ends every process it names and removes the data. The state
directory also keeps the JSON logs (``logs/``) and the revision documents across starts.

With ``Options(baseline=True)`` (``start --baseline``) the previous revision of the backend and
of auth runs too, on ports of its own over the same PostgreSQL and Redis, started alongside the
candidate's; ``stack.json`` lists it under ``baseline`` and its processes as
``backend@baseline`` and ``auth@baseline``. Without it nothing more starts than before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

from reference_platform import revisions, servers
from reference_platform._errors import StackError
from reference_platform.faults import Faults
from reference_platform.revisions import EnvVar

STATE_FILE = "stack.json"
SERVICES = ("auth", "backend")  # in the order they are started and waited for
AT_BASELINE = "@baseline"  # the suffix of a baseline process's name (and of its port's key)
# The processes this interpreter started, kept so that they are never garbage-collected while
# they run (Popen warns) and so that stop() in the same interpreter reaps them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
MISSING_MODULE = "netra_agent_tools"  # what the backend is told to import under missing_module
OAUTH_CLIENT_ID = "netra-web"  # the platform's client at the OAuth provider
OAUTH_REDIRECT_URI = "http://localhost:3000/auth/callback"  # its registered redirect (the web app)
# Every variable a service reads as its configuration (see Settings.from_env in auth.py,
# backend.py and oauth.py, and serve.py). Like a Cloud Run revision's, a service's env holds
# what its revision declares and nothing of the shell that started the platform: a JWT_SECRET
# exported there would undo the missing_secret fault, an AGENT_HANG would add a fault.
SERVICE_CONFIGURATION = frozenset(
    {
        "ACCESS_TOKEN_TTL_S",
        "AGENT_HANG",
        "AGENT_STEP_MS",
        "AGENT_TOOLS_MODULE",
        "AUTH_URL",
        "CHECK_TIMEOUT_S",
        "DATABASE_URL",
        "DB_LATENCY_LIMIT_MS",
        "DB_SLOW_MS",
        "IMAGE_DEFECTS",
        "JWT_SECRET",
        "K_CONFIGURATION",
        "K_REVISION",
        "K_SERVICE",
        "LOG_LEVEL",
        "OAUTH_CLIENT_ID",
        "OAUTH_CODE_TTL_S",
        "OAUTH_PROVIDER_URL",
        "OAUTH_REDIRECT_URIS",
        "OAUTH_STATE_TTL_S",
        "PORT",
        "REDIS_LATENCY_LIMIT_MS",
        "REDIS_URL",
        "REFRESH_TOKEN_TTL_S",
        "SHUTDOWN_GRACE_S",
        "SUBAGENT_ERROR",
        "SUBAGENT_HANG",
        "WS_DROP_RATE",
    }
)


def default_state_dir() -> Path:
    """``$CI_TOOLS_STACK_DIR``, or ``.stack`` in the working directory."""
    return Path(os.environ.get("CI_TOOLS_STACK_DIR") or ".stack")


@dataclasses.dataclass(frozen=True)
class Options:
    """How to start the stack; a port of 0 means any free one."""

    state_dir: Path
    faults: Faults = dataclasses.field(default_factory=Faults)
    backend_port: int = 0
    auth_port: int = 0
    postgres_port: int = 0
    redis_port: int = 0
    agent_step_ms: int = 20
    db_latency_limit_ms: int = 3000
    timeout_s: float = 30.0
    shutdown_grace_s: float = 2.0  # what the backend gives its agent runs on SIGTERM
    oauth_code_ttl_s: int = 60  # how long the OAuth provider's authorization codes live
    # PostgreSQL starts this long after the backend serves (its startup retries meanwhile).
    postgres_delay_s: float = 0.0
    # The baseline too: the revision before the candidate, of each service, beside it.
    baseline: bool = False


@dataclasses.dataclass(frozen=True)
class Process:
    """One process of the stack, identified by pid and start time (pids are reused)."""

    name: str
    pid: int
    create_time: float
    port: int

    def alive(self) -> bool:
        """Whether this very process still runs."""
        try:
            proc = psutil.Process(self.pid)
            return (
                abs(proc.create_time() - self.create_time) < 0.01
                and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The baseline of a stack started with one, keyed as the candidate's fields of State
    are: its URLs (backend, websocket, auth), ports (backend, auth), revisions, the faults
    it runs under, the services not ready, and its logs (the services' own files: the
    revision name in each entry tells the two apart, as on Cloud Run)."""

    urls: dict[str, str]
    ports: dict[str, int]
    faults: list[str]
    revisions: dict[str, str]
    not_ready: dict[str, str]
    logs: dict[str, str]


@dataclasses.dataclass(frozen=True)
class State:
    """What ``stack.json`` records of a running stack."""

    started_at: str
    urls: dict[str, str]
    ports: dict[str, int]
    faults: list[str]
    revisions: dict[str, str]
    not_ready: dict[str, str]
    processes: list[Process]
    data_dir: str
    logs: dict[str, str]
    baseline: Baseline | None = None  # None unless started with one

    def as_json(self) -> dict[str, Any]:
        """The state as written to ``stack.json``; ``baseline`` only when there is one."""
        data = dataclasses.asdict(self)
        if self.baseline is None:
            del data["baseline"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        """Reads what ``as_json`` wrote."""
        fields = dict(data)
        fields["processes"] = [Process(**p) for p in data["processes"]]
        if data.get("baseline") is not None:
            fields["baseline"] = Baseline(**data["baseline"])
        return cls(**fields)


def read_state(state_dir: Path) -> State | None:
    """The recorded state, or None when no stack was started here."""
    path = state_dir / STATE_FILE
    try:
        return State.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise StackError(f"{path} is unreadable ({exc}): delete it and start again") from exc


def _choose_ports(options: Options) -> dict[str, int]:
    wanted = {
        "backend": options.backend_port,
        "auth": options.auth_port,
        "postgres": options.postgres_port,
        "redis": options.redis_port,
    }
    if options.baseline:  # any free ones
        wanted |= {f"{service}{AT_BASELINE}": 0 for service in SERVICES}
    ports: dict[str, int] = {}
    for name, port in wanted.items():
        if port:
            if not servers.port_is_free(port):
                raise StackError(
                    f"port {port} for {name} is in use: free it, or pass "
                    f"--{name}-port 0 to take any free port"
                )
            ports[name] = port
    for name, port in wanted.items():
        if not port:
            ports[name] = next(p for p in iter(servers.free_port, None) if p not in ports.values())
    return ports


def _service_env(service: str, ports: dict[str, int], options: Options) -> list[EnvVar]:
    """The revision's env entries: literal values, or the names of secrets."""
    faults = options.faults
    if service == "auth":
        entries = [
            EnvVar("LOG_LEVEL", "INFO"),
            EnvVar("ACCESS_TOKEN_TTL_S", "900"),
            # The OAuth provider stand-in is served by auth itself, under /oauth/provider/.
            EnvVar("OAUTH_PROVIDER_URL", f"http://{servers.HOST}:{ports['auth']}/oauth/provider"),
            EnvVar("OAUTH_CLIENT_ID", OAUTH_CLIENT_ID),
            EnvVar("OAUTH_REDIRECT_URIS", OAUTH_REDIRECT_URI),
            EnvVar("OAUTH_CODE_TTL_S", str(options.oauth_code_ttl_s)),
        ]
        if not faults.missing_secret:
            entries.append(EnvVar("JWT_SECRET", secret="jwt-secret"))
        return entries
    entries = [
        EnvVar("LOG_LEVEL", "INFO"),
        EnvVar("REDIS_URL", f"redis://{servers.HOST}:{ports['redis']}/0"),
        EnvVar("AUTH_URL", f"http://{servers.HOST}:{ports['auth']}"),
        EnvVar("DB_LATENCY_LIMIT_MS", str(options.db_latency_limit_ms)),
        EnvVar("REDIS_LATENCY_LIMIT_MS", "1000"),
        EnvVar("AGENT_STEP_MS", str(options.agent_step_ms)),
        EnvVar("SHUTDOWN_GRACE_S", f"{options.shutdown_grace_s:g}"),
        EnvVar(
            "AGENT_TOOLS_MODULE",
            MISSING_MODULE if faults.missing_module else "reference_platform.agent",
        ),
        EnvVar("DATABASE_URL", secret="database-url"),
        EnvVar("JWT_SECRET", secret="jwt-secret"),
    ]
    if faults.db_slow_ms:
        entries.append(EnvVar("DB_SLOW_MS", str(faults.db_slow_ms)))
    if faults.agent_hang:
        entries.append(EnvVar("AGENT_HANG", "1"))
    if faults.subagent_hang:
        entries.append(EnvVar("SUBAGENT_HANG", faults.subagent_hang))
    if faults.subagent_error:
        entries.append(EnvVar("SUBAGENT_ERROR", faults.subagent_error))
    if faults.ws_drop_rate:
        entries.append(EnvVar("WS_DROP_RATE", f"{faults.ws_drop_rate:g}"))
    return entries


def process_env(
    parent: Mapping[str, str],
    entries: Sequence[EnvVar],
    secret_values: Mapping[str, str],
    runtime: Mapping[str, str],
) -> dict[str, str]:
    """A service process's environment: the parent's without any service configuration
    (``SERVICE_CONFIGURATION``), then the revision's entries (secrets resolved), then what
    the runtime sets (``K_SERVICE``, ``PORT``, the image's defects...)."""
    env = {name: value for name, value in parent.items() if name not in SERVICE_CONFIGURATION}
    env.update({var.name: var.value or "" for var in entries if var.secret is None})
    env.update({var.name: secret_values[var.secret] for var in entries if var.secret})
    env.update(runtime)
    return env


def _health(url: str) -> tuple[int | None, str | None]:
    """The HTTP status of ``url`` (None without an answer) and the phase its JSON names."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback URL
            body = json.loads(response.read() or b"{}")
            phase = body.get("phase") if isinstance(body, dict) else None
            return int(response.status), phase
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return None, None


class _Launch:
    """The processes of one start, so that a failure midway stops what already runs."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.started: list[Process] = []
        self._files: list[IO[bytes]] = []

    def log(self, name: str, suffix: str = ".log") -> tuple[Path, IO[bytes]]:
        """A log file to hand to a child; the child keeps its own descriptor."""
        path = self.logs_dir / f"{name}{suffix}"
        self._files.append(path.open("ab"))
        return path, self._files[-1]

    def track(self, name: str, popen: subprocess.Popen[bytes], port: int) -> None:
        """Records a started process."""
        _CHILDREN[popen.pid] = popen
        create_time = psutil.Process(popen.pid).create_time()
        self.started.append(Process(name, popen.pid, create_time, port))

    def close_logs(self) -> None:
        """Closes this process's copies of the log files."""
        for file in self._files:
            file.close()

    def abort(self) -> None:
        """Stops whatever this start launched."""
        _terminate(self.started)


def check_options(options: Options) -> None:
    """Refuses options that cannot be started, before anything starts: a fault scoped to
    the baseline (``NAME@baseline``) without one."""
    shipped = [name for name in options.faults.names() if name.endswith(AT_BASELINE)]
    if shipped and not options.baseline:
        raise StackError(
            f"fault {shipped[0]} breaks the baseline, but none is started: add --baseline "
            f"(Options(baseline=True)), or write --fault {shipped[0].removesuffix(AT_BASELINE)}"
        )


def start(options: Options) -> State:
    """Starts the whole platform and returns its state; raises StackError in one line."""
    check_options(options)
    state_dir = options.state_dir
    previous = read_state(state_dir)
    if previous is not None:
        if any(proc.alive() for proc in previous.processes):
            raise StackError(
                f"the stack is already running here (backend "
                f"{previous.urls['backend']}, started {previous.started_at}): "
                "stop it first with `nox -s stack -- stop`"
            )
        _clean(state_dir, previous)  # a stale state from a stack that died
    ports = _choose_ports(options)
    logs_dir = state_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="ci-tools-stack-"))
    launch = _Launch(logs_dir)
    deadline = time.monotonic() + options.timeout_s
    try:
        state = _start(options, ports, data_dir, launch, deadline)
    except BaseException:
        launch.abort()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    finally:
        launch.close_logs()
    (state_dir / STATE_FILE).write_text(json.dumps(state.as_json(), indent=2) + "\n")
    return state


def _start(
    options: Options, ports: dict[str, int], data_dir: Path, launch: _Launch, deadline: float
) -> State:
    faults = options.faults
    secret_values = {"jwt-secret": secrets.token_urlsafe(32)}
    db_password = secrets.token_urlsafe(18)
    secret_values["database-url"] = (
        f"postgresql://postgres:{db_password}@{servers.HOST}:{ports['postgres']}/"
        f"{servers.PG_DATABASE}"
    )

    redis_log_path, redis_log = launch.log("redis")
    redis_proc = None
    if not faults.redis_down:  # redis_down: its port stays closed
        redis_proc = servers.start_redis(data_dir, ports["redis"], redis_log)
        launch.track("redis", redis_proc, ports["redis"])

    # Each revision to run, by its process's name: its ports (its own, the stores' shared) and
    # its options (its faults). The baseline's first: it is the revision before the candidate.
    own: dict[str, tuple[dict[str, int], Options]] = {}
    baseline_ports = {**ports, **{s: ports.get(f"{s}{AT_BASELINE}", 0) for s in SERVICES}}
    if options.baseline:
        on_baseline = dataclasses.replace(options, faults=faults.for_baseline())
        own |= {f"{s}{AT_BASELINE}": (baseline_ports, on_baseline) for s in SERVICES}
    own |= {s: (ports, options) for s in SERVICES}
    urls = _urls(ports)
    baseline_urls = _urls(baseline_ports)
    names: dict[str, str] = {}
    service_logs: dict[str, Path] = {}
    popens: dict[str, subprocess.Popen[bytes]] = {}

    def url(key: str) -> str:
        service = key.removesuffix(AT_BASELINE)
        return baseline_urls[service] if key.endswith(AT_BASELINE) else urls[service]

    def serving(key: str, statuses: list[int | None]) -> bool:
        # Answered, and past its startup: the backend retries its database until it answers.
        status, phase = _health(f"{url(key)}/health")
        statuses.append(status)
        return status is not None and phase != "starting"

    # Every service loads while the databases start: none needs them to start.
    for key, (own_ports, own_options) in own.items():
        names[key], service_logs[key], popens[key] = _launch_service(
            key, own_ports, own_options, secret_values, launch
        )
    if options.postgres_delay_s:
        servers.wait_until(
            lambda: _health(f"{urls['backend']}/health")[0] is not None,
            popens["backend"],
            "backend",
            service_logs["backend"],
            deadline,
        )
        time.sleep(options.postgres_delay_s)
    pg_log_path, pg_log = launch.log("postgres")
    pg_proc = servers.start_postgres(data_dir, ports["postgres"], db_password, pg_log, pg_log_path)
    launch.track("postgres", pg_proc, ports["postgres"])
    if redis_proc is not None:
        servers.wait_until(
            lambda: servers.redis_ready(ports["redis"]),
            redis_proc,
            "redis",
            redis_log_path,
            deadline,
        )
    servers.wait_until(
        lambda: servers.postgres_ready(ports["postgres"]),
        pg_proc,
        "postgres",
        pg_log_path,
        deadline,
    )

    not_ready: dict[str, str] = {}
    for key in own:  # the baseline's first: the candidate's settle names it in the service
        service = key.removesuffix(AT_BASELINE)
        statuses: list[int | None] = []
        servers.wait_until(
            functools.partial(serving, key, statuses), popens[key], key, service_logs[key], deadline
        )
        ready = statuses[-1] == 200
        if not ready:
            not_ready[key] = f"HTTP {statuses[-1]} on /health"
        served = None
        if options.baseline and key == service:
            served = revisions.Served(names[f"{service}{AT_BASELINE}"], baseline_urls[service])
        revisions.settle_revision(
            options.state_dir,
            service,
            names[key],
            url(key),
            ready=ready,
            reason="HealthCheckContainerError",
            message=f"The container answered {not_ready.get(key)}; "
            f"see the logs of revision {names[key]}.",
            baseline=served,
            update_service=key == service,
        )
    baseline = None
    if options.baseline:
        baseline = Baseline(
            urls=baseline_urls,
            ports={s: baseline_ports[s] for s in SERVICES},
            faults=faults.for_baseline().names(),
            revisions={s: names[f"{s}{AT_BASELINE}"] for s in SERVICES},
            not_ready={
                s: problem
                for s in SERVICES
                if (problem := not_ready.get(f"{s}{AT_BASELINE}")) is not None
            },
            logs={s: str(service_logs[f"{s}{AT_BASELINE}"]) for s in SERVICES},
        )
    return State(
        started_at=revisions.now_rfc3339(),
        urls=urls,
        ports={name: port for name, port in ports.items() if not name.endswith(AT_BASELINE)},
        faults=faults.names(),
        revisions={s: names[s] for s in SERVICES},
        not_ready={s: problem for s in SERVICES if (problem := not_ready.get(s)) is not None},
        processes=list(launch.started),
        data_dir=str(data_dir),
        logs={
            name: str(path)
            for name, path in {
                **{s: service_logs[s] for s in SERVICES},
                "postgres": pg_log_path,
                "redis": redis_log_path,
            }.items()
        },
        baseline=baseline,
    )


def _launch_service(
    key: str,
    ports: dict[str, int],
    options: Options,
    secret_values: Mapping[str, str],
    launch: _Launch,
) -> tuple[str, Path, subprocess.Popen[bytes]]:
    """Deploys one revision (``backend``, or ``backend@baseline``) on its ports under its
    options' faults: writes its revision document and starts its process. Its revision's
    name, its log and its process."""
    service = key.removesuffix(AT_BASELINE)
    port = ports[service]
    entries = _service_env(service, ports, options)
    name = revisions.next_revision(options.state_dir, service)
    defects = options.faults.in_image(service)
    revisions.create_revision(options.state_dir, service, name, entries, port, defects=defects)
    runtime = {
        # What the image was built with, not configuration: kept out of the revision's env.
        "IMAGE_DEFECTS": " ".join(defects),
        "K_SERVICE": service,
        "K_REVISION": name,
        "K_CONFIGURATION": service,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    env = process_env(os.environ, entries, secret_values, runtime)
    # A baseline logs to its service's log too (appending, a line a write), as on Cloud Run.
    path, log = launch.log(service, ".jsonl")
    popen = subprocess.Popen(
        [sys.executable, "-m", "reference_platform.serve", service, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    launch.track(key, popen, port)
    return name, path, popen


def _urls(ports: Mapping[str, int]) -> dict[str, str]:
    """The URLs of one revision of each service, from its ports."""
    return {
        "backend": f"http://{servers.HOST}:{ports['backend']}",
        "websocket": f"ws://{servers.HOST}:{ports['backend']}/ws",
        "auth": f"http://{servers.HOST}:{ports['auth']}",
    }


def wait_gone(handles: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Waits until every process has exited; those still running after ``timeout_s``.

    An exited process whose parent is not this one stays a zombie until PID 1 reaps it
    (seconds, on some machines); psutil.wait_procs counts it as running until then, so a
    stop would wait for that. A zombie has ended: it counts as gone."""
    deadline = time.monotonic() + timeout_s
    pending = list(handles)
    while pending:
        pending = [h for h in pending if _running(h)]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return pending


def _running(handle: psutil.Process) -> bool:
    try:
        return handle.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _terminate(processes: list[Process], grace_s: float = 5.0) -> list[str]:
    """Ends each live process and every descendant: gently, then by force after ``grace_s``.

    Only processes known to be ours are signalled: the recorded ones (pid and start time
    checked) and the descendants found while they still ran. psutil re-checks each handle's
    start time before signalling, so a reused pid is never hit.
    """
    live = [proc for proc in processes if proc.alive()]
    handles: list[psutil.Process] = []
    for proc in live:
        try:
            leader = psutil.Process(proc.pid)
            family = [leader, *leader.children(recursive=True)]
        except psutil.Error:
            continue
        handles += family
        # SIGINT is PostgreSQL's fast shutdown (it stops its own workers); others: SIGTERM.
        with contextlib.suppress(psutil.Error):
            leader.send_signal(signal.SIGINT if proc.name == "postgres" else signal.SIGTERM)
    still = wait_gone(handles, grace_s)
    for handle in still:
        with contextlib.suppress(psutil.Error):
            handle.kill()
    wait_gone(still, grace_s)
    for proc in processes:
        child = _CHILDREN.pop(proc.pid, None)
        if child is not None:
            child.poll()  # reaps it, or learns that psutil already did
    return [proc.name for proc in live]


def _clean(state_dir: Path, state: State) -> None:
    shutil.rmtree(state.data_dir, ignore_errors=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)


def stop(state_dir: Path) -> list[str]:
    """Stops every process of the stack and removes its data; the names of those that ran."""
    state = read_state(state_dir)
    if state is None:
        return []
    stopped = _terminate(state.processes)
    _clean(state_dir, state)
    return stopped


def status(state_dir: Path) -> tuple[State | None, dict[str, bool]]:
    """The recorded state and, per process, whether it still runs."""
    state = read_state(state_dir)
    if state is None:
        return None, {}
    return state, {proc.name: proc.alive() for proc in state.processes}
