"""``python -m reference_platform start|stop|status``: the stack's command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import psutil

from reference_platform import stack
from reference_platform._errors import StackError
from reference_platform.faults import FAULTS, parse_faults


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nox -s stack --",
        description="Start, stop or inspect the reference platform (PostgreSQL, Redis, "
        "backend, auth) on loopback ports.",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where stack.json, logs and revisions live (default: $CI_TOOLS_STACK_DIR or .stack)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "start",
        help="start the platform and print its URLs",
        epilog="faults: "
        + "; ".join(f"{f.name}{'=' + f.value if f.value else ''}: {f.help}" for f in FAULTS),
    )
    start.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="switch a fault on (repeatable)",
    )
    for name in ("backend", "auth", "postgres", "redis"):
        start.add_argument(
            f"--{name}-port",
            type=int,
            default=0,
            metavar="PORT",
            help=f"{name} port (default: any free one)",
        )
    start.add_argument(
        "--agent-step-ms",
        type=int,
        default=20,
        help="pace of the agent pipeline, per step (default: 20)",
    )
    start.add_argument(
        "--db-latency-limit-ms",
        type=int,
        default=3000,
        help="database latency above which the backend is not ready (default: 3000)",
    )
    start.add_argument(
        "--baseline",
        action="store_true",
        help="also start the baseline (the revision before the candidate) of backend and auth "
        "on ports of their own, over the same PostgreSQL and Redis; shared faults (redis_down, "
        "db_slow, agent_hang, subagent_hang, subagent_error, ws_drop) hit both, the others the "
        "candidate only, unless written NAME@baseline",
    )
    commands.add_parser("stop", help="stop every process of the platform and remove its data")
    commands.add_parser("status", help="say what runs")
    return parser


def _start(args: argparse.Namespace, state_dir: Path) -> int:
    try:
        options = stack.Options(
            state_dir=state_dir,
            faults=parse_faults(args.fault),
            backend_port=args.backend_port,
            auth_port=args.auth_port,
            postgres_port=args.postgres_port,
            redis_port=args.redis_port,
            agent_step_ms=args.agent_step_ms,
            db_latency_limit_ms=args.db_latency_limit_ms,
            baseline=args.baseline,
        )
        stack.check_options(options)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = stack.start(options)
    print(f"reference platform started (faults: {', '.join(state.faults) or 'none'})")
    for name, url in state.urls.items():
        print(f"  {name:<10}{url}")
    for service, revision in state.revisions.items():
        problem = state.not_ready.get(service)
        print(f"  revision  {revision}" + (f"  NOT READY: {problem}" if problem else ""))
    if state.baseline is not None:
        print(f"  baseline  (faults: {', '.join(state.baseline.faults) or 'none'})")
        for name, url in state.baseline.urls.items():
            print(f"    {name:<10}{url}")
        for service, revision in state.baseline.revisions.items():
            problem = state.baseline.not_ready.get(service)
            print(f"    revision  {revision}" + (f"  NOT READY: {problem}" if problem else ""))
    print(f"  state     {state_dir / stack.STATE_FILE}")
    return 0


def _stop(state_dir: Path) -> int:
    stopped = stack.stop(state_dir)
    print(f"stopped: {', '.join(stopped)}" if stopped else "the stack was not running")
    return 0


def _status(state_dir: Path) -> int:
    state, alive = stack.status(state_dir)
    if state is None:
        print("the stack is not running")
        return 3
    width = max([10, *(len(name) + 1 for name in alive)])  # backend@baseline is longer
    for name, running in alive.items():
        print(f"{name:<{width}}{'running' if running else 'STOPPED'}")
    print(f"faults    {', '.join(state.faults) or 'none'}")
    for name, url in state.urls.items():
        print(f"{name:<10}{url}")
    if state.baseline is not None:
        print(f"baseline  faults: {', '.join(state.baseline.faults) or 'none'}")
        for name, url in state.baseline.urls.items():
            print(f"  {name:<10}{url}")
        for revision in state.baseline.revisions.values():
            print(f"  revision  {revision}")
    return 0 if all(alive.values()) else 1


def main(argv: list[str] | None = None) -> int:
    """Runs one command; errors are one line on stderr (exit 2 for bad input, 1 otherwise).

    status exits 0 when every process runs, 1 when some died, 3 when nothing was started.
    """
    args = _parser().parse_args(argv)
    state_dir = args.state_dir or stack.default_state_dir()
    try:
        if args.command == "start":
            return _start(args, state_dir)
        if args.command == "stop":
            return _stop(state_dir)
        return _status(state_dir)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, subprocess.SubprocessError, psutil.Error) as exc:
        # Unforeseen, but still one line: what failed, and where to look.
        print(f"error: {type(exc).__name__}: {exc} (logs: {state_dir / 'logs'})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
