"""The context stage as the CLI runs it: pick the sources, gather the failures' context.

It reads no run directory and writes none: the CLI hands it the run's records and writes
what it returns through ``ci_tools.rundir``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_tools import config as cfg
from ci_tools import escape
from ci_tools._exceptions import ConfigError
from ci_tools.context.gather import ContextRequest, Rerun, gather
from ci_tools.context.local import LocalSource
from ci_tools.context.model import Context
from ci_tools.context.sources import LogSource, RevisionSource
from ci_tools.experiment import Reruns
from ci_tools.records import TestRecord
from ci_tools.wording import created_before_first_failure

LOCAL_SERVICES = {"backend": "backend", "auth": "auth"}
RUN_ENDPOINT = "CI_TOOLS_RUN_ENDPOINT"
LOGGING_ENDPOINT = "CI_TOOLS_LOGGING_ENDPOINT"


def _sources(
    env_name: str,
    env: cfg.EnvironmentConfig,
    config: cfg.Config,
    stack_dir: Path | None,
    *,
    environ: Mapping[str, str],
    deadline: float,
) -> tuple[RevisionSource, LogSource, dict[str, str]]:
    if env.gcp is not None:
        from ci_tools.context.cloudrun import CloudRunSource  # noqa: PLC0415 - heavy clients
        from ci_tools.context.logging import CloudLoggingSource  # noqa: PLC0415

        settings = config.context
        run = CloudRunSource(
            env.gcp.project,
            env.gcp.region,
            environ.get(RUN_ENDPOINT) or settings.run_endpoint,
            settings.call_timeout_s,
            deadline,
        )
        logs = CloudLoggingSource(
            env.gcp.project,
            environ.get(LOGGING_ENDPOINT) or settings.logging_endpoint,
            settings.call_timeout_s,
            deadline,
        )
        services = dict(env.gcp.services)
        if not services:
            raise ConfigError(
                f"[tool.ci_tools.environments.{env_name}.gcp] services is "
                "empty: name the Cloud Run service of each role"
            )
        return run, logs, services
    if stack_dir is not None:
        local = LocalSource(stack_dir)
        return local, local, dict(LOCAL_SERVICES)
    raise ConfigError(
        f"environment {env_name!r} has neither gcp (project, region, "
        "services) nor stack_file: nothing to read deployment context from"
    )


def gather_context(
    config: cfg.Config,
    env_name: str,
    records: Sequence[TestRecord],
    stack_dir: Path | None,
    environ: Mapping[str, str] = os.environ,
    *,
    urls: Mapping[str, str] | None = None,
    reruns: Reruns | None = None,
) -> Context:
    """The deployment context of the run's failures (``records``): from Cloud Run and Cloud
    Logging for an environment with ``gcp``, else from the local platform's ``stack_dir``.
    ``urls`` (the run's resolved URLs) name the candidate revision when one is a tag's URL;
    ``reruns`` (the experiment's) get their own log lines and links, by arm."""
    settings = config.context
    env = config.environment(env_name)
    deadline = time.monotonic() + settings.budget_s
    revisions, logs, services = _sources(
        env_name, env, config, stack_dir, environ=environ, deadline=deadline
    )
    return gather(
        ContextRequest(
            env=env_name,
            services=services,
            records=tuple(records),
            before_s=settings.window_before_s,
            after_s=settings.window_after_s,
            budget_s=settings.budget_s,
            urls=tuple((urls or {}).values()),
            reruns=_reruns(reruns or Reruns()),
        ),
        revisions,
        logs,
    )


def _reruns(reruns: Reruns) -> tuple[Rerun, ...]:
    """The re-runs' records, the baseline's first, each with its arm."""
    return tuple(
        [Rerun("baseline", r) for r in reruns.baseline.values()]
        + [Rerun("candidate", r) for r in reruns.again.values()]
    )


def summary(context: Context) -> list[str]:
    """A few lines for the terminal, inert for the Actions runner (log signatures are what
    a service logged)."""
    lines = [
        f"context: {context.failures} failure(s), source {context.source}, "
        f"requests {dict(context.requests) or 'none'}"
    ]
    reruns = [t for t in context.tests if t.arm]
    if reruns:
        lines.append(
            f"  experiment: {len(reruns)} re-run(s) looked up by trace id "
            f"({sum(t.arm == 'baseline' for t in reruns)} on the baseline, "
            f"{sum(t.arm == 'candidate' for t in reruns)} on the candidate), "
            f"{sum(bool(t.entries) for t in reruns)} with log lines"
        )
    for service in context.services:
        if service.unavailable:
            lines.append(f"  {service.role}: {service.unavailable}")
            continue
        revision = service.revision.name if service.revision else "?"
        created = (
            f", {created_before_first_failure(service.revision_age_s)}"
            if service.revision_age_s is not None
            else ""
        )
        lines.append(f"  {service.role}: revision {revision}{created}")
        if service.baseline:
            lines.append(
                f"    baseline (serving {service.baseline_percent}%): "
                f"{service.baseline.name} at {service.baseline_url or '?'}"
            )
        if service.service and service.service.not_ready_finding:
            lines.append(f"    {service.service.not_ready_finding}")
        if service.changes:
            lines.append(f"    {service.changes.summary}")
        for sig in service.signatures[:3]:
            lines.append(f"    {sig.count}x {sig.signature}")
        if service.logs_unavailable:
            lines.append(f"    {service.logs_unavailable}")
    return [escape.terminal(line) for line in lines]
