"""Rewrites ``tests/corpus/corpus.jsonl`` from real failures: ``python -m tests.corpus.generate``.

It starts real servers on 127.0.0.1 (PostgreSQL and Redis as the reference platform starts
them, Redis full, read-only and password-protected; servers that refuse, never answer, close,
reset or answer garbage; the Cloud Run front end's error answers; the backend of
``tests.corpus.serve``), writes the throw-away suite of ``tests.corpus.suite`` to a temporary
folder and runs real pytest on it with a small capture plugin, which records each failure as
ci_tools records it (``ci_tools.plugin.recorder.failure_of`` and ``collection_failure``, with
``where``, ``frame`` and ``library``). Each failure becomes one corpus entry: its record's
fields, the server's log lines of its trace id, and the class, part and source
``tests.corpus.suite.CASES`` gives it. Ports (by role; a client's own), temporary and install
paths, this checkout's path, addresses and measured times are normalised, so a second run
writes the same file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import redis

from ci_tools.context.analysis import log_line
from ci_tools.context.local import to_log_entry
from reference_platform import servers
from reference_platform.telemetry import trace_id_from_headers, trace_resource
from tests.corpus.serve import Config
from tests.corpus.suite import CASES, FILES, Case

HOST = "127.0.0.1"
HERE = Path(__file__).parent
CORPUS = HERE / "corpus.jsonl"
TIMESTAMP = "2026-01-01T00:00:00.000Z"  # every log line's: the corpus must not change per run
# Bodies and log texts of Cloud Run's front end, as public threads quote them.
FRONT_END_503 = (
    "<html><head><title>503 Server Error</title></head><body><h1>Error: Server Error</h1>"
    "<h2>The service you requested is not available yet.<p>Please try again in 30 seconds."
    "</h2></body></html>"
)
NO_INSTANCE = "The request was aborted because there was no available instance."
REQUEST_TIMEOUT = (
    "The request has been terminated because it has reached the maximum request timeout. "
    "To change this limit, see https://cloud.google.com/run/docs/configuring/request-timeout"
)
MALFORMED = (
    "The request failed because either the HTTP response was malformed or connection to the "
    "instance had an error."
)
# OpenAI's 429 body as quoted in Pythagora-io/gpt-pilot#53.
RATE_LIMITED = json.dumps(
    {
        "error": {
            "message": "Rate limit reached for 10KTPM-200RPM in organization "
            "org-OASFC7k1Ff5IzueeLArhQtnT on tokens per min. Limit: 10000 / min. Please try again "
            "in 6ms. Contact us through our help center at help.openai.com if you continue to "
            "have issues.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
)
INVALID_GRANT = json.dumps(
    {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
)
# A client's own (ephemeral) port, in a server's access line: no role has a 5-digit stand-in.
_CLIENT_PORT = re.compile(rf"{re.escape(HOST)}:\d{{5}}(?!\d)")
# A measured time (a timeout's remainder in a traceback's locals), cut to its first digits.
_MEASURED = re.compile(r"(?<![\d.])(\d+\.\d{2})\d{8,}")
# Each dynamic port's stand-in in the corpus, by role: the conventional port where there is one.
CANONICAL = {
    "redis": 6379,
    "redis_full": 6380,
    "redis_replica": 6381,
    "redis_auth": 6382,
    "redis_closed": 6390,
    "postgres": 5432,
    "pg_closed": 5433,
    "backend": 8080,
    "plain": 8080,
    "drain": 8081,
    "ws": 8765,
    "blackhole": 9001,
    "closer": 9002,
    "reset": 9003,
    "garbage": 9004,
    "backlog": 9005,
    "http_closed": 9009,
    "frontdoor_429": 9429,
    "frontdoor_503": 9503,
    "frontdoor_504": 9504,
    "frontdoor_malformed": 9502,
    "provider": 9600,
    "token": 9601,
}

CAPTURE = """\
import dataclasses
import json
import os

import pytest

from ci_tools.plugin import recorder
from ci_tools.plugin.where import Repository

ROOT = os.path.realpath(os.getcwd())
REPOSITORY = Repository(ROOT, ROOT)
OUT = os.environ["CORPUS_CAPTURE"]


def _emit(key, report, outcome, failure):
    \"\"\"One failure as ci_tools records it, under its key in CASES.\"\"\"
    data = {"key": key, "nodeid": report.nodeid, "outcome": outcome}
    with open(OUT, "a", encoding="utf-8") as out:
        out.write(json.dumps({**data, "failure": dataclasses.asdict(failure)}) + "\\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and call.excinfo is not None:
        outcome = "failed" if report.when == "call" else "error"
        _emit(item.originalname, report, outcome, recorder.failure_of(report, REPOSITORY))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if report.failed:
        failure = recorder.collection_failure(report, REPOSITORY)
        _emit(report.nodeid, report, "error", failure)
    return report
"""


# --- servers ---------------------------------------------------------------------------------


class _Raw(threading.Thread):
    """A TCP server that misbehaves one way: never answers, closes, resets, or talks garbage."""

    def __init__(self, behaviour: str) -> None:
        super().__init__(daemon=True)
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.behaviour == "blackhole":
                self.held.append(conn)  # accepted, never answered
                continue
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                if self.behaviour == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                elif self.behaviour == "garbage":
                    conn.sendall(b"SSH-2.0-OpenSSH_8.9p1\r\n\r\n")
            conn.close()


def _backlog_full() -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket that never accepts, its queue filled: connecting to it times out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError, OSError):
            filler.connect(sock.getsockname())
        fillers.append(filler)
    time.sleep(0.3)
    return sock, fillers


def _front_end(behaviour: str, logs: list[dict[str, Any]]) -> http.server.ThreadingHTTPServer:
    """Cloud Run's front end (or a provider) answering one error, logging as Cloud Run does."""
    answers: dict[str, tuple[int, str, str, str]] = {
        "frontdoor_429": (429, "text/plain", "", NO_INSTANCE),
        "frontdoor_503": (503, "text/html; charset=UTF-8", FRONT_END_503, ""),
        "frontdoor_504": (504, "text/plain", "upstream request timeout", REQUEST_TIMEOUT),
        "frontdoor_malformed": (503, "text/plain", "Service Unavailable", MALFORMED),
        "provider": (429, "application/json", RATE_LIMITED, ""),
        "token": (400, "application/json", INVALID_GRANT, ""),
    }
    status, kind, body, text = answers[behaviour]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            trace = trace_id_from_headers({k.lower(): v for k, v in self.headers.items()})
            if text and trace:
                logs.append(
                    {
                        "severity": "ERROR" if status >= 500 else "WARNING",
                        "textPayload": text,
                        "trace": trace_resource(trace),
                        "httpRequest": {"status": status, "requestMethod": self.command},
                    }
                )
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _closed_port(reserved: list[socket.socket]) -> int:
    """A port nothing listens on, kept bound so no other server of the run is given it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    reserved.append(sock)
    return int(sock.getsockname()[1])


def _free_port(ports: dict[str, int]) -> int:
    """A free loopback port no server of the run was given yet."""
    return next(port for port in iter(servers.free_port, None) if port not in ports.values())


def _start_databases(
    state: Path,
    ports: dict[str, int],
    password: str,
    procs: list[subprocess.Popen[bytes]],
    log: BinaryIO,
) -> None:
    """PostgreSQL and four Redis servers as the reference platform starts them, each ready and
    in its state (``_prepare``); their ports go into ``ports``, their processes into ``procs``."""
    log_path = Path(log.name)
    ports["postgres"] = _free_port(ports)
    (state / "pg").mkdir()
    procs.append(servers.start_postgres(state / "pg", ports["postgres"], password, log, log_path))
    ready = {"postgres": (procs[-1], servers.postgres_ready)}
    for name in ("redis", "redis_full", "redis_replica", "redis_auth"):
        ports[name] = _free_port(ports)
        (state / name).mkdir()
        procs.append(servers.start_redis(state / name, ports[name], log))
        ready[name] = (procs[-1], servers.redis_ready)
    deadline = time.monotonic() + 60
    for name, (proc, probe) in ready.items():
        servers.wait_until(functools.partial(probe, ports[name]), proc, name, log_path, deadline)
    _prepare(ports, password)


@contextlib.contextmanager
def running(
    state: Path,
) -> Iterator[tuple[dict[str, Any], Callable[[], list[dict[str, Any]]]]]:
    """Every server the suite needs; yields its URLs and a reader of the servers' log entries."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[dict[str, Any]] = []
    reserved: list[socket.socket] = []
    password = secrets.token_hex(8)
    ports: dict[str, int] = {}
    log_path = state / "servers.log"
    log_file = log_path.open("wb")
    try:
        _start_databases(state, ports, password, procs, log_file)
        for name in ("redis_closed", "pg_closed", "http_closed"):
            ports[name] = _closed_port(reserved)
        raws = {name: _Raw(name) for name in ("blackhole", "closer", "reset", "garbage")}
        for name, raw in raws.items():
            raw.start()
            ports[name] = raw.port
        backlog, fillers = _backlog_full()
        ports["backlog"] = backlog.getsockname()[1]
        fronts = {
            name: _front_end(name, logs)
            for name in (
                "frontdoor_429",
                "frontdoor_503",
                "frontdoor_504",
                "frontdoor_malformed",
                "provider",
                "token",
            )
        }
        for name, front in fronts.items():
            ports[name] = front.server_address[1]
        for name in ("backend", "drain", "ws"):
            ports[name] = _free_port(ports)
        ports["plain"] = ports["backend"]  # a plain-HTTP server a TLS client may reach
        config = Config(
            backend=ports["backend"],
            drain=ports["drain"],
            ws=ports["ws"],
            redis=ports["redis"],
            redis_closed=ports["redis_closed"],
            redis_full=ports["redis_full"],
            redis_replica=ports["redis_replica"],
            postgres=ports["postgres"],
            postgres_password=password,
            blackhole=ports["blackhole"],
            provider=ports["provider"],
        )
        stdout = state / "backend.jsonl"
        with stdout.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.corpus.serve", json.dumps(config.__dict__)],
                    stdout=out,
                    stderr=log_file,
                    cwd=HERE.parent.parent,
                )
            )
        servers.wait_until(
            lambda: servers.port_open(ports["backend"]) and servers.port_open(ports["ws"]),
            procs[-1],
            "the corpus backend",
            log_path,
            time.monotonic() + 30,
        )
        urls: dict[str, Any] = {
            **ports,
            "pg_password": password,
            "backend": f"http://{HOST}:{ports['backend']}",
            "drain": f"http://{HOST}:{ports['drain']}",
            "token": f"http://{HOST}:{ports['token']}/token",
            **{
                name: f"http://{HOST}:{ports[name]}"
                for name in (
                    "frontdoor_429",
                    "frontdoor_503",
                    "frontdoor_504",
                    "frontdoor_malformed",
                )
            },
            "_ports": ports,
        }

        def read_logs() -> list[dict[str, Any]]:
            entries = list(logs)
            for line in stdout.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    raw = json.loads(line)
                    entries.append(to_log_entry(raw, "backend"))
            return entries

        yield urls, read_logs
        for front in fronts.values():
            front.shutdown()
        backlog.close()
        for filler in fillers:
            filler.close()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log_file.close()
        for sock in reserved:
            sock.close()


def _prepare(ports: dict[str, int], password: str) -> None:
    """Puts each server in its bad state: full, read-only, password-protected, a limited role."""
    import psycopg  # noqa: PLC0415 - only the generator prepares PostgreSQL

    full = redis.Redis(host=HOST, port=ports["redis_full"])
    full.config_set("maxmemory", "1mb")
    full.config_set("maxmemory-policy", "noeviction")
    with contextlib.suppress(redis.exceptions.OutOfMemoryError):
        for number in range(10_000):
            full.set(f"filler:{number}", "x" * 1024)
    redis.Redis(host=HOST, port=ports["redis"]).rpush("tags", "finance")
    redis.Redis(host=HOST, port=ports["redis_replica"]).replicaof(HOST, ports["redis"])
    redis.Redis(host=HOST, port=ports["redis_auth"]).config_set("requirepass", password)
    dsn = f"postgresql://postgres:{password}@{HOST}:{ports['postgres']}/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE ROLE app LOGIN PASSWORD 'app-password' CONNECTION LIMIT 1")


# --- the run ---------------------------------------------------------------------------------


def trace_of(nodeid: str) -> str:
    """The trace id the suite's ``trace`` fixture sends for this test."""
    return hashlib.sha256(nodeid.encode()).hexdigest()[:32]


def run_suite(folder: Path, urls: dict[str, Any]) -> list[dict[str, Any]]:
    """Writes the suite, runs real pytest on it, and returns what the capture plugin saw."""
    for name, text in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / "corpus_capture.py").write_text(CAPTURE)
    captured = folder / "captured.jsonl"
    closed = urls["_ports"]["http_closed"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(folder), str(HERE.parent.parent)]),
        "HOME": str(folder),
        "CLOUDSDK_CONFIG": str(folder / "gcloud"),
        "GCE_METADATA_HOST": f"{HOST}:{closed}",
        "GCE_METADATA_IP": f"{HOST}:{closed}",
        "NO_PROXY": "*",
        "CORPUS_URLS": json.dumps(urls),
        "CORPUS_CAPTURE": str(captured),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:ci_tools",
            "-p",
            "corpus_capture",
            "-q",
            "-rN",
            "tests/e2e",
        ],
        cwd=folder,
        env=env,
        check=False,
        timeout=600,
        capture_output=True,
        text=True,
    )
    print("pytest:", *run.stdout.strip().splitlines()[-3:], run.stderr[-2000:], sep="\n")
    return [json.loads(line) for line in captured.read_text().splitlines()]


class Normaliser:
    """Makes a run's texts stable: ports by role, a client's own port, the temporary folder,
    install paths and this checkout's, addresses, and measured times."""

    def __init__(self, folder: Path, ports: dict[str, int]) -> None:
        self.folder = str(folder.resolve())
        by_port = {str(port): str(CANONICAL[name]) for name, port in ports.items()}
        self._ports = by_port
        self._port = re.compile(r"(?<!\d)(" + "|".join(map(re.escape, by_port)) + r")(?!\d)")
        self._paths = [
            (self.folder + os.sep, ""),
            (self.folder, "."),
            (sysconfig.get_paths()["purelib"], "site-packages"),
            (sysconfig.get_paths()["stdlib"], "python3"),
            (str(HERE.parent.parent) + os.sep, ""),  # the servers' own code, from this checkout
        ]

    def __call__(self, text: str) -> str:
        for old, new in self._paths:
            text = text.replace(old, new)
        text = self._port.sub(lambda m: self._ports[m.group(1)], text)
        text = _CLIENT_PORT.sub(f"{HOST}:50000", text)
        text = _MEASURED.sub(r"\1", text)
        return re.sub(r"0x[0-9a-f]{6,}", "0x7f0000000000", text)


def corpus_id(key: str) -> str:
    """The corpus id of a case's failure: ``gen:`` and its test function or module's name."""
    return "gen:" + key.removeprefix("tests/e2e/").removesuffix(".py")


def entries(
    captured: list[dict[str, Any]], logs: list[dict[str, Any]], normalise: Normaliser
) -> list[dict[str, Any]]:
    """One corpus entry per captured failure, in a stable order."""
    out = []
    for seen in captured:
        key, nodeid, failure = seen["key"], seen["nodeid"], seen["failure"]
        case: Case | None = CASES.get(key)
        if case is None:
            raise SystemExit(
                f"generate: {key} failed ({failure['type']}: {failure['message']}) but "
                "tests.corpus.suite.CASES has no entry: add one, or fix the suite"
            )
        trace = trace_resource(trace_of(nodeid))
        own = [
            log_line({**entry, "timestamp": TIMESTAMP}, "backend")
            for entry in logs
            if entry.get("trace") == trace
        ]
        out.append(
            {
                "id": corpus_id(key),
                "expected": case.expected,
                "part": case.part,
                "source": f"generated: {case.what}",
                "nodeid": nodeid,
                "outcome": seen["outcome"],
                "failure": {
                    name: normalise(failure[name]) for name in ("type", "message", "traceback")
                }
                | {"timed_out": failure["timed_out"]},
                "where": failure["where"],
                "frame": failure["frame"],
                "library": failure["library"],
                "trace_ids": [trace_of(nodeid)] if own else [],
                "logs": [
                    {
                        "service": line.service,
                        "severity": line.severity,
                        "status": line.status,
                        "message": normalise(line.message),
                    }
                    for line in own
                ],
            }
        )
    return sorted(out, key=lambda entry: str(entry["id"]))


def main() -> None:
    """Runs the whole generation and rewrites corpus.jsonl; prints the counts per class."""
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # a root run serves PostgreSQL as another user, who must get in
        state, suite = folder / "state", folder / "suite"
        state.mkdir(mode=0o755)
        suite.mkdir()
        with running(state) as (urls, read_logs):
            captured = run_suite(suite, urls)
            time.sleep(0.5)  # the backend's last lines
            logs = read_logs()
            normalise = Normaliser(suite, urls["_ports"])
            made = entries(captured, logs, normalise)
    ids = {entry["id"] for entry in made}
    missing = [key for key in sorted(CASES) if corpus_id(key) not in ids]
    CORPUS.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in made))
    counts: dict[str, int] = {}
    for entry in made:
        counts[str(entry["expected"])] = counts.get(str(entry["expected"]), 0) + 1
    print(f"wrote {len(made)} entries to {CORPUS}: {counts}")
    if missing:
        print(f"cases that did not fail (left out): {', '.join(missing)}")


if __name__ == "__main__":
    main()
