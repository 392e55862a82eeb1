"""The experiment after the gates: a run's failures re-run on the baseline and the candidate.

Once the run's phases are judged (the last one met its gate, or one missed it and the rest
were skipped), the failures of every phase that ran are run again, all at once, twice: on the
baseline revision (the one serving traffic: named by the environment's ``baseline`` table,
else found by the deployment context, Cloud Run's traffic block or the local platform's
revision documents) and, at the same moment, once more on the candidate, so that both see the
same state of the data stores and the network. Each phase's re-runs are a pytest per revision
writing its own run directory beside the phase's files (``phaseN.baseline/``,
``phaseN.again/``); what was done is ``phaseN.experiment.json`` (:class:`ci_tools.experiment
.Plan`). The gate's counts never see them; the report turns them into each failure's finding.

Bounded: at most ``max_failures`` re-run (the first failure of each kind first, a kind being
the rule that names it, else its exception type), under the experiment's own ``budget_s``.
A healthy run costs nothing: with no failure nothing is read, started or written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ci_tools import defects, environment, redact, rules, rundir
from ci_tools._exceptions import CIToolsError
from ci_tools.config import Config
from ci_tools.experiment import ARMS, FAILED, Arm, Plan, comparisons
from ci_tools.phases import GateResult
from ci_tools.records import TestRecord, now
from ci_tools.rundir import read
from ci_tools.runner import process
from ci_tools.runner.command import RunOptions, rerun_command
from ci_tools.runner.progress import Progress
from ci_tools.runner.schedule import last_run
from ci_tools.runner.unfinished import complete

if TYPE_CHECKING:
    from ci_tools.context import BaselineUrls

_DIGITS = re.compile(r"\d+")
PROBE_TIMEOUT_S = 3.0
# A re-run of a test that waited out its first run (a hang, a stall) is cut at this many times
# a healthy answer (its last pass, else this run's passes beside it), and never sooner than
# RERUN_MIN_TIMEOUT_S: a healthy revision answers well within it, a hung one is known hung
# without waiting the phase's whole timeout again.
RERUN_TIMEOUT_FACTOR = 3.0
RERUN_MIN_TIMEOUT_S = 5.0  # a baseline that answers nothing this long is unreachable
# Once the baseline has answered every re-run of a phase, the candidate's re-runs still going
# at RERUN_TIMEOUT_FACTOR times that (and at least this long) hang again: both revisions ran
# the same tests from the same moment, so the baseline's time is the measure of a healthy one.
AFTER_BASELINE_MIN_S = 2.0


def clear(options: RunOptions, number: int) -> None:
    """Removes phase N's experiment of an earlier attempt (a re-run replaces it)."""
    index = options.shard_index
    rundir.experiment(options.run_dir, number, index).unlink(missing_ok=True)
    for which in ARMS:
        shutil.rmtree(rundir.arm(options.run_dir, number, which, index), ignore_errors=True)


def run_experiment(
    config: Config, gates: Sequence[GateResult], options: RunOptions, progress: Progress
) -> list[Plan]:
    """The experiment on the failures of the phases judged in ``gates``: its plans, one per
    phase with a failure to compare, each written to the run directory and told to
    ``progress``. No failure, no plan, no cost."""
    ran = _ran(gates, options)
    failures = _failures(ran)
    if not failures:
        return []
    settings = config.experiment
    if not (settings.enabled and options.experiment):
        why = (
            "the experiment is off ([tool.ci_tools.experiment] enabled = false)"
            if not settings.enabled
            else "the experiment is off for this run (--no-experiment)"
        )
        return _without(failures, Plan("off", why), options, progress)
    run_urls = environment.resolve_urls(
        options.env, config.environment(options.env), options.root, os.environ
    )
    baseline, why = _baseline(config, options, run_urls)
    if baseline is None:
        return _without(failures, Plan("no baseline", why), options, progress)
    found = Plan(
        "ran",
        baseline={role: redact.redact(url) for role, url in baseline.urls.items()},
        revisions=dict(baseline.revisions),
        source=baseline.source,
        budget_s=settings.budget_s,
    )
    unreachable = _unreachable(baseline.urls, run_urls)
    if unreachable:
        plan = dataclasses.replace(found, status="unreachable", reason=unreachable)
        return _without(failures, plan, options, progress)
    chosen, left = choose(failures, settings.max_failures, config.rules_table)
    kinds = {r.nodeid: kind_of(r, config.rules_table) for r in failures}
    plans = {
        number: dataclasses.replace(
            found,
            chosen=tuple(r.nodeid for r in chosen if r.phase == number),
            left=tuple((r.nodeid, why) for r, why in left if r.phase == number),
            kinds={r.nodeid: kinds[r.nodeid] for r in failures if r.phase == number},
            timeout_s=rerun_timeout(
                [r for r in chosen if r.phase == number],
                last_run(options, number).passed,
                options.timeout_s or config.phases[number].timeout_s or config.test_timeout_s,
                ran[number],
            ),
        )
        for number in dict.fromkeys(r.phase for r in failures)
    }
    urls: dict[Arm, Mapping[str, str]] = {"baseline": baseline.urls, "candidate": run_urls}
    return _rerun(config, plans, urls, options, progress)


def _ran(gates: Sequence[GateResult], options: RunOptions) -> dict[int, list[TestRecord]]:
    """The records of the phases that ran, by phase, in phase order."""
    return {
        gate.phase: list(read.records(options.run_dir, gate.phase, options.shard_index).records)
        for gate in gates
        if gate.status not in ("skipped", "not_run")
    }


def _failures(ran: Mapping[int, Sequence[TestRecord]]) -> list[TestRecord]:
    """The failures worth re-running, in phase order: failed tests and errors, but not the
    suite's own defects (they fail wherever they run)."""
    return [
        r
        for records in ran.values()
        for r in records
        if r.outcome in FAILED and r.failure is not None and not defects.suite_defect(r)
    ]


def rerun_timeout(
    chosen: Sequence[TestRecord],
    passed: Mapping[str, float],
    phase_timeout_s: float,
    siblings: Sequence[TestRecord] = (),
) -> float:
    """The re-runs' per-test timeout when it can be shortened below the phase's
    (``phase_timeout_s``; 0: not shortened): when a chosen failure waited (it took over
    ``RERUN_TIMEOUT_FACTOR`` times what a healthy answer takes) and every chosen test has a
    healthy answer to measure by. A test's healthy answer is its last pass in the run store
    (``passed``: node id to seconds); for a test the store never saw pass, the slowest pass of
    this run among ``siblings`` (the phase's records) of its own file, else of its phase: what
    the same suite took on the same platform minutes ago. Never below
    ``RERUN_MIN_TIMEOUT_S``."""
    if not chosen:
        return 0.0
    by_file: dict[str, float] = {}
    for sibling in siblings:
        if sibling.outcome == "passed":
            file = sibling.nodeid.partition("::")[0]
            by_file[file] = max(by_file.get(file, 0.0), sibling.duration_s)
    slowest = max(by_file.values(), default=None)
    answers = [
        passed.get(r.nodeid, by_file.get(r.nodeid.partition("::")[0], slowest)) for r in chosen
    ]
    if any(answer is None for answer in answers):
        return 0.0
    longest = max(answer for answer in answers if answer is not None)
    limit = round(max(RERUN_TIMEOUT_FACTOR * longest, RERUN_MIN_TIMEOUT_S), 1)
    waited = any(r.duration_s > limit for r in chosen)
    return limit if waited and limit < phase_timeout_s else 0.0


def kind_of(record: TestRecord, table: Sequence[rules.Rule] = rules.RULES) -> str:
    """A failure's kind: the name of the rule naming it; else its exception type where it
    was raised (the function, not the line), or with its message's first words when that is
    unknown: two assertion errors of different tests are two kinds."""
    failure = record.failure
    if failure is None:
        return ""
    text = rules.failure_text(failure.type, failure.message, record.areas, failure.timed_out)
    found = rules.match(text, table)
    if found:
        return found.rule.name
    file, _, function = failure.where.partition(" in ")
    if failure.where:
        return f"{failure.type} in {file.partition(':')[0]}::{function}"
    return f"{failure.type}: {' '.join(_DIGITS.sub('N', failure.message).split()[:8])}"


def choose(
    failures: Sequence[TestRecord], limit: int, table: Sequence[rules.Rule] = rules.RULES
) -> tuple[list[TestRecord], list[tuple[TestRecord, str]]]:
    """The failures to re-run, at most ``limit``: the first of each kind first (see
    ``kind_of``), then the others, each in the suite's order (file, line: tests run at once
    end in any order, and the choice must not follow it); and those left out, each with
    why."""
    failures = sorted(failures, key=lambda r: (r.file, r.line, r.nodeid))
    firsts: dict[str, TestRecord] = {}
    for record in failures:
        firsts.setdefault(kind_of(record, table), record)
    ranked = list(firsts.values()) + [r for r in failures if r not in firsts.values()]
    chosen = ranked[:limit]
    picked = {id(r) for r in chosen}
    why = (
        f"over the experiment's limit of {limit} re-runs ([tool.ci_tools.experiment] max_failures)"
    )
    return [r for r in failures if id(r) in picked], [
        (r, why) for r in failures if id(r) not in picked
    ]


def _baseline(
    config: Config, options: RunOptions, run_urls: Mapping[str, str]
) -> tuple[BaselineUrls | None, str]:
    """The baseline's URLs, or None and why there is none: the environment's ``baseline``
    table, else the revision serving traffic as the deployment context finds it."""
    # The deployment context's models and clients: only a run with a failure to compare.
    from ci_tools.context import baseline_urls  # noqa: PLC0415

    env = config.environment(options.env)
    if env.baseline is not None:
        return baseline_urls(env, None, run_urls), ""
    if env.gcp is None and env.stack_file is None:
        return None, (
            f"environment {options.env!r} names no baseline: give its URLs in "
            f"[tool.ci_tools.environments.{options.env}.baseline]"
        )
    from ci_tools.context.stage import gather_context  # noqa: PLC0415 - only a failing run

    try:
        stack = environment.stack_dir(env, options.root, os.environ)
        context = gather_context(config, options.env, [], stack, os.environ, urls=run_urls)
    except CIToolsError as exc:
        return None, f"no baseline to compare with: {exc}"
    found = baseline_urls(env, context, run_urls)
    if found is not None:
        return found, ""
    unavailable = [s.unavailable for s in context.services if s.unavailable]
    if unavailable and len(unavailable) == len(context.services):
        return (
            None,
            f"no baseline to compare with: the revisions could not be read ({unavailable[0]})",
        )
    return None, (
        "no baseline to compare with: no revision serves traffic beside the candidate "
        f"(name one in [tool.ci_tools.environments.{options.env}.baseline])"
    )


def _unreachable(urls: Mapping[str, str], run_urls: Mapping[str, str]) -> str:
    """Why the baseline cannot be compared with ("" when it answers): an HTTP service of it
    (one the run reaches elsewhere) that answers nothing within ``PROBE_TIMEOUT_S``. Any
    answer, an error status included, is an answer."""
    import urllib.error  # noqa: PLC0415 - with http.client and email: only a failing run
    import urllib.request  # noqa: PLC0415

    for role in ("backend", "auth", "frontend"):
        url = urls.get(role)
        if not url or url == run_urls.get(role) or urlsplit(url).scheme not in ("http", "https"):
            continue
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):  # noqa: S310 - http(s) only
                pass
        except urllib.error.HTTPError:
            continue  # it answered
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return (
                f"the baseline's {role} at {redact.redact(url)} answers nothing ({reason}): "
                "its failures cannot be compared"
            )
    return ""


def _without(
    failures: Sequence[TestRecord], plan: Plan, options: RunOptions, progress: Progress
) -> list[Plan]:
    """The same plan (nothing re-run) for every phase with failures, written and told."""
    plans = []
    for number in dict.fromkeys(r.phase for r in failures):
        _write(options, number, plan)
        progress.experimented(number, plan, {})
        plans.append(plan)
    return plans


def _rerun(
    config: Config,
    plans: dict[int, Plan],
    urls: Mapping[Arm, Mapping[str, str]],
    options: RunOptions,
    progress: Progress,
) -> list[Plan]:
    """Runs every phase's chosen failures on both revisions at once, within the budget;
    writes and tells each phase's plan with what it took."""
    index = options.shard_index
    started_at, begun = now(), time.monotonic()
    arms: dict[int, dict[Arm, process.Pytest]] = {}
    stopped = ""
    try:
        for number, plan in plans.items():
            if not plan.chosen:
                continue
            arms[number] = {}
            for which in ARMS:
                folder = rundir.arm(options.run_dir, number, which, index)
                folder.mkdir(parents=True, exist_ok=True)
                shortened = (
                    dataclasses.replace(options, timeout_s=plan.timeout_s)
                    if plan.timeout_s
                    else options
                )
                command = rerun_command(config, number, shortened, plan.chosen, folder)
                process.launch(
                    functools.partial(_same, command),
                    options.root,
                    rundir.output(folder, number),
                    _overrides(urls[which]),
                    adopt=functools.partial(_keep, arms[number], which),
                )
        stopped = _wait(arms, plans, options, begun, config.experiment.budget_s)
    except KeyboardInterrupt:
        for pair in arms.values():
            for pytest in pair.values():
                process.stop(pytest, process.CANCEL_GRACE_S)
        stopped = "the run was cancelled"
        _finish(plans, options, progress, (started_at, begun, stopped))
        raise
    return _finish(plans, options, progress, (started_at, begun, stopped))


def _keep(arms: dict[Arm, process.Pytest], which: Arm, pytest: process.Pytest, go_fd: int) -> None:
    """Keeps an arm's pytest where a cancel stops it, as it is made; no go is awaited: the
    re-run starts at once."""
    os.close(go_fd)
    arms[which] = pytest


def _same(command: list[str], _fd: int) -> list[str]:
    """``command``, whatever the go's pipe (a re-run awaits no go)."""
    return command


def _overrides(urls: Mapping[str, str]) -> dict[str, str]:
    """The environment variables that point the suite at ``urls`` (every role given)."""
    return {environment.URL_OVERRIDES[role]: url for role, url in urls.items() if url}


def _wait(
    arms: Mapping[int, Mapping[Arm, process.Pytest]],
    plans: Mapping[int, Plan],
    options: RunOptions,
    begun: float,
    budget_s: float,
) -> str:
    """Waits for every re-run within the budget (from ``begun``); stops those still running
    then. A phase's candidate re-runs still going well after its baseline answered every one
    are stopped as hung again (``_outwaited``). Why the re-runs were stopped ("" when every
    one ended by itself, or was outwaited)."""
    # Phase -> the seconds its baseline took to answer every re-run; None: it ended without
    # answering them all (looked at once, when it ended).
    answered: dict[int, float | None] = {}
    while True:
        running = [p for pair in arms.values() for p in pair.values() if p.poll() is None]
        if not running:
            break
        elapsed = time.monotonic() - begun
        if elapsed >= budget_s:
            for late in running:
                process.stop(late)
            return f"the experiment's budget of {budget_s:g} s ran out"
        for number, pair in arms.items():
            if number not in answered and pair["baseline"].poll() is not None:
                answered[number] = elapsed if _answered(options, number, plans[number]) else None
            took = answered.get(number)
            if took is not None and pair["candidate"].poll() is None:
                _outwaited(pair["candidate"], options, number, took, elapsed)
        with contextlib.suppress(subprocess.TimeoutExpired):  # back as soon as it ends
            process.wait(running[0], min(0.05, budget_s - elapsed))
    for pair in arms.values():
        for pytest in pair.values():
            process.wait(pytest, 1.0)  # ended: its last output written
    return ""


def _answered(options: RunOptions, number: int, plan: Plan) -> bool:
    """Whether phase N's re-runs on the baseline, ended, answered every chosen test (passed,
    failed or error): a baseline that crashed, or was cut, did not."""
    found = _records(options, number, "baseline")
    return all(
        nodeid in found and found[nodeid].outcome in FAILED | {"passed"} for nodeid in plan.chosen
    )


def _outwaited(
    candidate: process.Pytest, options: RunOptions, number: int, answered_s: float, now_s: float
) -> None:
    """Stops phase N's candidate re-runs once they have run ``RERUN_TIMEOUT_FACTOR`` times
    what the baseline took to answer every one (``answered_s``, from the launch of both arms,
    start-up included; at least ``AFTER_BASELINE_MIN_S``); the tests still running are
    recorded as hung again (every one started at the launch: re-runs go all at once)."""
    limit = max(RERUN_TIMEOUT_FACTOR * answered_s, AFTER_BASELINE_MIN_S)
    if now_s < limit:
        return
    process.stop(candidate, process.CANCEL_GRACE_S)  # the other phases' arms are waiting
    folder = rundir.arm(options.run_dir, number, "candidate", options.shard_index)
    stop = (
        f"the re-runs were stopped {now_s:.1f} s in, the baseline having answered every one "
        f"in {answered_s:.1f} s"
    )
    complete(folder, number, None, stop, hung=f"still running when {stop}")


def _finish(
    plans: Mapping[int, Plan],
    options: RunOptions,
    progress: Progress,
    when: tuple[str, float, str],
) -> list[Plan]:
    """Each phase's plan with ``when`` (its start, its monotonic start, why it was stopped),
    written and told with what it showed."""
    started_at, begun, stopped = when
    duration = round(time.monotonic() - begun, 3)
    done = []
    for number, planned in plans.items():
        plan = dataclasses.replace(
            planned, started_at=started_at, duration_s=duration, stopped=stopped
        )
        index = options.shard_index
        _write(options, number, plan)
        again = _records(options, number, "candidate")
        baseline = _records(options, number, "baseline")
        first = [
            r
            for r in read.records(options.run_dir, number, index).records
            if r.nodeid in plan.chosen
        ]
        compared = comparisons(first, [plan], again, baseline)
        shown: Counter[str] = Counter(c.shown for c in compared.values())
        progress.experimented(number, plan, dict(shown))
        done.append(plan)
    return done


def _write(options: RunOptions, number: int, plan: Plan) -> None:
    """Writes phase N's plan; a file that cannot be written costs the experiment, never the
    run (its failures read as having no baseline to compare with)."""
    path = rundir.experiment(options.run_dir, number, options.shard_index)
    with contextlib.suppress(CIToolsError, OSError):
        rundir.write_atomically(path, plan.dumps())


def _records(options: RunOptions, number: int, which: Arm) -> dict[str, TestRecord]:
    folder = rundir.arm(options.run_dir, number, which, options.shard_index)
    return {r.nodeid: r for r in read.records(folder, number).records}
