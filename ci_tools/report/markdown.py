"""The worklog as Markdown, rendered from a template, with a size ladder for GitHub.

GitHub rejects a step summary over 1 MiB, so the summary degrades in steps until it fits:
full, then details collapsed (no log lines), then fewer groups, then truncated with a pointer
to the full worklog in the run's artifact.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jinja2

from ci_tools import escape
from ci_tools.context.model import Context, ServiceContext
from ci_tools.diagnose import Diagnosis, FailureGroup, Verdict
from ci_tools.diagnose.evidence import answers
from ci_tools.diagnose.findings import Rerun
from ci_tools.diagnose.findings import regressions as regressions_phrase
from ci_tools.history.analysis import Rate, TrendPoint
from ci_tools.phases import CriterionResult, CriterionStatus, GateStatus
from ci_tools.quarantine import NONE as NO_QUARANTINE
from ci_tools.quarantine import Entry, Quarantine
from ci_tools.rules import FailureClass
from ci_tools.wording import age, percent, phase_range, seconds, streak, utc

if TYPE_CHECKING:
    from ci_tools.report.changes import Commit
    from ci_tools.report.lookback import LookbackView

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts in one step summary
ICONS: dict[Verdict, str] = {
    "healthy": "✅",
    "unhealthy": "❌",
    "incomplete": "⚠️",
    "unknown": "❔",
    "suite_broken": "🧪",
}
GATE_MARKS: dict[GateStatus, str] = {"met": "✅", "not_met": "❌", "skipped": "⏭️", "not_run": "⚠️"}
# How the next steps open, infrastructure before application before tests.
STEP_OPENINGS: dict[FailureClass, str] = {
    "infrastructure": "Fix the infrastructure first",
    "application": "Then the application",
    "test": "Then the tests",
}


@dataclasses.dataclass(frozen=True)
class Meta:
    """What the headline says beside the diagnosis."""

    env: str
    run_id: str
    commit: str
    artifact: str  # where the full worklog is, for the truncation pointer


@dataclasses.dataclass(frozen=True)
class Rung:
    """One step of the size ladder."""

    collapse: bool = False  # drop log lines, test lists and links from the groups
    max_groups: int | None = None


LADDER = (
    Rung(),
    Rung(collapse=True),
    Rung(collapse=True, max_groups=50),
    Rung(collapse=True, max_groups=10),
)


def _link(url: Any, label: str) -> str:
    """A Markdown link to a web page; anything else (a local file, which GitHub would drop;
    a ``javascript:`` URL) is shown as its text."""
    text = str(url)
    if text.startswith("file://"):
        return escape.code(text.removeprefix("file://"))
    if not text.startswith(("https://", "http://")):
        return escape.code(text)
    return f"[{escape.inline(label)}]({escape.url(text)})"


def _trace_label(url: str) -> str:
    match = re.search(r"(?:tid=|trace=)([0-9a-f]{32})", url)
    return match.group(1) if match else "trace"


def _oneline(value: Any) -> str:
    return str(value).splitlines()[0] if str(value) else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ci_tools.report", "."),
        autoescape=False,  # noqa: S701 - Markdown, not HTML: values go through ci_tools.escape
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        cell=escape.cell,
        inline=escape.inline,
        code=escape.code,
        html=escape.html,
        fenced=escape.fenced,
        oneline=_oneline,
        log_line=lambda line: (
            f"{line.timestamp} {line.severity} {line.service}: " + _oneline(line.message)
        ),
        trace_label=lambda url: _trace_label(str(url)),
        link=_link,
        utc=utc,
    )
    return env


_ENV = _environment()


# The criteria table's last column: "-" for nothing measured; "❔" for a lower bound short of
# its target (what happened is in the measured column: "no answer within 10.1 s").
CRITERION_MARKS: dict[CriterionStatus, str] = {"met": "✅", "missed": "❌", "unknown": "❔"}


def criterion_mark(criterion: CriterionResult) -> str:
    """Whether the criterion held, as the criteria table marks it."""
    return CRITERION_MARKS[criterion.status] if criterion.samples else "-"


def service_state(service: ServiceContext, diagnosis: Diagnosis) -> str:
    """What the run found of a service, for the deployment context's state column: context
    that could not be read, a revision that never became ready, each cause of the platform
    whose failures it answered with an error (a 5xx or an error logged; when no service did,
    the one the test was left waiting on: the last to log), logs that could not be read;
    "ok" only when none of these."""
    found = [service.unavailable or ""]
    if service.service is not None and service.service.not_ready_finding:
        found.append(service.service.not_ready_finding)
    causes = []
    for group in diagnosis.groups:
        if group.failure_class == "test" or not group.logs:  # the suite's own, or no logs
            continue
        failed = {a.service for a in answers(group.logs) if a.failed} or {group.logs[-1].service}
        if service.role in failed:
            causes.append(group.cause)
    found += [f"failing: {cause}" for cause in dict.fromkeys(causes)]
    found.append(service.logs_unavailable or "")
    return "; ".join(line for line in found if line) or "ok"


# Mermaid's xychart-beta has no legend: each phase gets a fixed colour, named in the caption.
TREND_COLOURS = (
    ("#1f77b4", "blue"),
    ("#ff7f0e", "orange"),
    ("#2ca02c", "green"),
    ("#d62728", "red"),
    ("#9467bd", "purple"),
    ("#8c564b", "brown"),
)


def trend_chart(points: Sequence[TrendPoint]) -> str:
    """Pass rate per phase over the runs as a Mermaid ``xychart-beta`` (GitHub renders it on
    the summary page); "" for fewer than two runs. A phase that did not run has no pass rate,
    and a Mermaid line cannot leave a gap: only the phases that ran in every run are drawn; a
    phase that missed some runs is listed under the chart, "not run" where it did not run;
    one that ran in none is named as not run. None is ever drawn at 0%."""
    if len(points) < 2:
        return ""
    phases = sorted({n for p in points for n in p.rates})
    # One colour a phase: a phase past the palette is listed like one with gaps.
    drawn = [n for n in phases if all(p.rates.get(n) is not None for p in points)]
    drawn = drawn[: len(TREND_COLOURS)]
    never = [n for n in phases if all(p.rates.get(n) is None for p in points)]
    gaps = [n for n in phases if n not in drawn and n not in never]
    parts = [_chart(points, drawn)] if drawn else []
    if gaps:
        parts.append(
            "\n".join(
                f"- phase {n}, oldest run first: "
                + ", ".join(
                    "not run" if (rate := p.rates.get(n)) is None else percent(rate) for p in points
                )
                for n in gaps
            )
        )
    if never:
        parts.append(f"{phase_range(never).capitalize()}: not run in these runs.")
    return "\n\n".join(parts)


def _chart(points: Sequence[TrendPoint], phases: Sequence[int]) -> str:
    """The ``xychart-beta`` block of the phases that ran in every run, with its caption."""
    palette = ", ".join(colour for colour, _ in TREND_COLOURS[: len(phases)])
    names = [p.started[5:16].replace("T", " ") for p in points]  # "12-01 20:51"
    if len(set(names)) < len(names):  # runs within a minute: their seconds tell them apart
        names = [p.started[11:19] for p in points]
    # The times come from the run store: nothing but a time's characters reaches the chart.
    labels = ", ".join(f'"{re.sub(r"[^0-9:. -]", "", name)}"' for name in names)
    lines = [
        "```mermaid",
        "%%{init: {'themeVariables': {'xyChart': {'plotColorPalette': '" + palette + "'}}}}%%",
        "xychart-beta",
        '    title "Pass rate per phase, last runs (UTC)"',
        f"    x-axis [{labels}]",
        '    y-axis "pass rate (%)" 0 --> 100',
    ]
    for phase in phases:
        values = ", ".join(f"{(p.rates[phase] or 0.0) * 100:.0f}" for p in points)
        lines.append(f"    line [{values}]")
    lines.append("```")
    caption = ", ".join(
        f"phase {n} {name}" for n, (_, name) in zip(phases, TREND_COLOURS, strict=False)
    )
    return "\n".join(lines) + f"\n\n{caption}."


def _change(commit: Commit) -> str:
    """One commit as a list item: a mark when it looks like infrastructure, its short sha,
    subject and first files."""
    files = ", ".join(commit.files[:4]) + (
        f", {len(commit.files) - 4} more" if len(commit.files) > 4 else ""
    )
    mark = "🏗️ " if commit.infrastructure else ""
    return f"{mark}{escape.code(commit.sha)} {escape.inline(commit.subject)}" + (
        f" ({escape.inline(files)})" if files else ""
    )


def _quarantined(diagnosis: Diagnosis, quarantine: Quarantine) -> list[tuple[str, Entry]]:
    """The tests whose results did not count for their gate, with their entries."""
    held = [t for g in diagnosis.gates for t in g.quarantined]
    found = [(t, quarantine.entry_for(t)) for t in held]
    return [(t, e) for t, e in found if e is not None]


def _age(service: ServiceContext) -> str:
    return "-" if service.revision_age_s is None else age(service.revision_age_s)


def baseline_cell(service: ServiceContext) -> str:
    """The baseline's table cell: the revision serving traffic and its share (Cloud Run
    allocates whole percents), ``-`` when the candidate serves or none is known."""
    if service.baseline is None:
        return "-"
    share = f" {service.baseline_percent}%" if service.baseline_percent else ""
    return escape.code(service.baseline.name, table=True) + share


def worse(diagnosis: Diagnosis) -> str:
    """What the headline adds to the verdict when the experiment compared failures: ``2
    regressions of this deploy``; "" when it compared none (or none needed comparing)."""
    if diagnosis.regressions is None or not diagnosis.findings:
        return ""
    return regressions_phrase(diagnosis.regressions)


_OUTCOMES = {"": "no result (it did not finish)", "not_run": "not run"}


def _rerun(rerun: Rerun, *, links: bool) -> str:
    """One re-run as a group's list item: where it ran, its outcome, its failure, its trace
    (a link, unless the rung drops links)."""
    outcome = _OUTCOMES.get(rerun.outcome, rerun.outcome)
    where = rerun.where + (", run again" if rerun.arm == "candidate" else "")
    line = f"{escape.inline(where)}: **{escape.inline(outcome)}**"
    if rerun.message:
        line += f" {escape.code(rerun.message[:200])}"
    if rerun.trace_url and links:
        line += f" · trace {_link(rerun.trace_url, _trace_label(rerun.trace_url))}"
    return line


def experiment_lines(group: FailureGroup, *, links: bool = True) -> list[str]:
    """A group's list items of the experiment, Markdown already escaped: its finding and
    why, how many of its tests have each finding when they differ, and the re-runs of the
    test it was judged on, each with its trace. None without an experiment."""
    if not group.finding:
        return []
    said = f"{group.finding} (inferred)" if group.inferred else group.finding
    lines = [f"finding: **{escape.inline(said)}**: {escape.inline(group.finding_reason)}"]
    if len(group.findings) > 1:
        lines.append(
            "findings of its tests: "
            + escape.inline(", ".join(f"{name} {n}" for name, n in group.findings.items()))
        )
    if group.reruns and group.tests and group.compared != group.tests[0]:
        lines.append(f"run on both: {escape.code(group.compared)}")
    lines += [_rerun(rerun, links=links) for rerun in group.reruns]
    return lines


def skipped_line(diagnosis: Diagnosis) -> str:
    """The skipped phases in one line: ``phases 2–5 not run: gate of phase 1 not met``."""
    skipped = [g for g in diagnosis.gates if g.status == "skipped"]
    if not skipped:
        return ""
    blocker = skipped[0].reason.split(":", 1)[0]
    return f"{phase_range([g.phase for g in skipped])} not run: {blocker}"


def next_steps(diagnosis: Diagnosis, context: Context | None) -> list[str]:
    """What to do first, infrastructure before application before tests."""
    steps = []
    for cause in diagnosis.causes[:5]:
        where = f" ({cause.evidence[0]})" if cause.evidence else ""
        steps.append(f"{STEP_OPENINGS[cause.failure_class]}: {cause.title.lower()}{where}.")
    for service in context.services if context else ():
        if service.service and service.service.not_ready_finding:
            steps.insert(0, f"Check {service.role}: {service.service.not_ready_finding}.")
    if diagnosis.verdict == "unhealthy" and any(g.status == "skipped" for g in diagnosis.gates):
        steps.append("Re-run the skipped phases once the gate that stopped them is met.")
    if diagnosis.counts.get("not_run"):
        steps.append(
            f"Re-run the {diagnosis.counts['not_run']} test(s) not run once their cause is fixed."
        )
    return steps


def render(
    diagnosis: Diagnosis,
    context: Context | None,
    meta: Meta,
    rung: Rung = LADDER[0],
    *,
    lookback: LookbackView | None = None,
    changes: Sequence[Commit] = (),
    quarantine: Quarantine = NO_QUARANTINE,
) -> str:
    """The worklog at one rung of the ladder (with what the earlier runs say, when a store
    answered)."""
    groups = diagnosis.groups if rung.max_groups is None else diagnosis.groups[: rung.max_groups]
    services = context.services if context else ()
    revisions = ", ".join(s.revision.name for s in services if s.revision) or "-"
    return _ENV.get_template("worklog.md.j2").render(
        d=diagnosis,
        env=meta.env,
        run_id=meta.run_id,
        commit=meta.commit,
        revisions=revisions,
        icon=ICONS[diagnosis.verdict],
        gate_mark=GATE_MARKS,
        criterion_mark=criterion_mark,
        state=lambda service: service_state(service, diagnosis),
        percent=percent,
        seconds=seconds,
        streak=streak,
        age=_age,
        baseline=baseline_cell,
        groups=groups,
        hidden_groups=len(diagnosis.groups) - len(groups),
        collapse=rung.collapse,
        max_tests=20,
        max_lines=12,
        max_causes=5,
        context_services=services,
        steps=next_steps(diagnosis, context),
        skipped_line=skipped_line(diagnosis),
        worse=worse(diagnosis),
        experiment_lines=lambda group: experiment_lines(group, links=not rung.collapse),
        h=lookback,
        rate=Rate.text,
        trend=trend_chart(lookback.trend) if lookback else "",
        changes=[_change(c) for c in changes],
        quarantined=_quarantined(diagnosis, quarantine),
        expired=quarantine.expired,
    )


def fit(
    diagnosis: Diagnosis,
    context: Context | None,
    meta: Meta,
    *,
    limit: int = SUMMARY_LIMIT,
    full: str | None = None,
    lookback: LookbackView | None = None,
    changes: Sequence[Commit] = (),
    quarantine: Quarantine = NO_QUARANTINE,
) -> tuple[str, int]:
    """The most detailed worklog under ``limit`` bytes, and the ladder rung used (0 = full;
    len(LADDER) = truncated). ``full``, when given, is the already rendered first rung."""
    for index, rung in enumerate(LADDER):
        text = (
            full
            if index == 0 and full is not None
            else render(
                diagnosis,
                context,
                meta,
                rung,
                lookback=lookback,
                changes=changes,
                quarantine=quarantine,
            )
        )
        if len(text.encode()) <= limit:
            return text, index
    pointer = (
        f"\n\n… truncated to fit GitHub's {limit // 1024} KiB summary limit; the full "
        f"worklog is {escape.code(meta.artifact)} in the run's artifact.\n"
    )
    budget = limit - len(pointer.encode())
    while True:  # the blocks the cut leaves open are closed within the limit too
        clipped = text.encode()[:budget].decode(errors="ignore")
        clipped = close_blocks(clipped[: clipped.rfind("\n")])
        over = len(clipped.encode()) + len(pointer.encode()) - limit
        if over <= 0:
            return clipped + pointer, len(LADDER)
        budget -= over


_FENCE = re.compile(r"(`{3,})[\w-]*")


def close_blocks(text: str) -> str:
    """``text`` cut anywhere, with the fenced code block and the ``<details>`` blocks it
    leaves open closed again, so that what follows it is not swallowed. Only the template
    starts a line with a fence or a ``<details>`` (outside a fence, untrusted text is
    escaped)."""
    fence = ""
    open_details = 0
    for line in text.split("\n"):
        if fence:
            fence = "" if line == fence else fence
        elif (found := _FENCE.fullmatch(line)) is not None:
            fence = found.group(1)
        elif line.startswith("<details"):
            open_details += 1
        elif line.startswith("</details>"):
            open_details -= 1
    closing = ([f"\n{fence}"] if fence else []) + ["\n\n</details>"] * max(0, open_details)
    return text + "".join(closing)
