"""The fault matrix as a table: each case run through the real main job (``nox -s e2e``).

Prints, per case: verdict, the phase whose gate stopped the run, the causes named (class),
escalation, seconds to verdict (the main job's wall time, platform start and stop included),
and tests run / not run. Below it, the classifier's precision and recall per class
(infrastructure / application / test) over every failure of the matrix, each with its counts,
against the class the injected fault or defect implies (per failed test in a mixed case), and
the issue's goals, each checked:

- precision and recall >= 0.95 for every class, with samples in every class;
- every headline names its part (the endpoint, the sub-agent, the field, the suite's file);
- no test defect escalates;
- a mixed case names both causes;
- and the agent_hang goal (<= 45 s to verdict).

``python benchmarks/fault_matrix.py [CASE ...]`` runs the named cases only (e.g. agent_hang).
Exit 1 when a case's expectation or a goal is missed.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.integration, as a script

from tests.integration.fault_matrix import (
    BY_NAME,
    CASES,
    CaseResult,
    expectation_misses,
    expected_parts,
    run_case,
    unnamed_parts,
)

CLASSES = ("infrastructure", "application", "test")
AGENT_HANG_GOAL_S = 45.0
SCORE_GOAL = 0.95


def row(result: CaseResult) -> str:
    """One line of the table."""
    verdict = result.verdict
    counts = Counter(
        "not run" if r.outcome == "not_run" else "run"
        for phase in result.phases
        for r in phase.records
    )
    causes = "; ".join(f"{c['title']} ({c['klass']})" for c in result.causes) or "-"
    stopped = verdict.get("first_failed_phase") or "-"
    return (
        f"| {result.case.name} | {verdict['verdict']} | {stopped} | {causes} | "
        f"{verdict['escalation']} | {result.seconds:.1f} | {counts['run']} / {counts['not run']} |"
    )


def _ratio(hits: int, of: int) -> float | None:
    return hits / of if of else None


def scores(
    truth: list[str], predicted: list[str], need_samples: bool = True
) -> tuple[list[str], list[str]]:
    """Precision and recall per class with the counts behind them (table lines), and the
    classes that miss the goal (or, with ``need_samples``, have no sample to score)."""
    lines, missed = [], []
    for failure_class in CLASSES:
        hits = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == failure_class)
        said = predicted.count(failure_class)
        real = truth.count(failure_class)
        precision, recall = _ratio(hits, said), _ratio(hits, real)
        shown_p = f"{precision:.2f} ({hits}/{said})" if precision is not None else "- (0 said)"
        shown_r = f"{recall:.2f} ({hits}/{real})" if recall is not None else "- (none injected)"
        lines.append(f"| {failure_class} | {real} | {shown_p} | {shown_r} |")
        if real == 0:
            if need_samples:
                missed.append(f"{failure_class}: no sample in the cases run")
        elif precision is None or precision < SCORE_GOAL or (recall or 0.0) < SCORE_GOAL:
            missed.append(
                f"{failure_class}: precision {shown_p}, recall {shown_r} (goal >= {SCORE_GOAL})"
            )
    return lines, missed


def goal(label: str, met: int, of: int) -> tuple[str, bool]:
    """One goal's line, and whether it is met (vacuously, with nothing to check)."""
    ok = met == of
    state = "met" if ok else "MISSED"
    return f"{label}: {met}/{of} ({state})" if of else f"{label}: no case run checks it", ok


def main(names: list[str]) -> int:
    """Runs the cases, prints the table, the scores and the goals; exit 1 when anything is
    missed."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        print(f"unknown case {unknown[0]!r}: choose from {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    cases = [BY_NAME[n] for n in names] if names else list(CASES)
    columns = ("fault", "verdict", "stopped at phase", "causes", "escalation", "s to verdict")
    print("| " + " | ".join((*columns, "run / not run")) + " |")
    print("|---" * (len(columns) + 1) + "|")
    truth: list[str] = []
    predicted: list[str] = []
    misses: list[str] = []
    results: list[CaseResult] = []
    for case in cases:
        result = run_case(case)
        results.append(result)
        print(row(result), flush=True)
        misses += [f"{case.name}: {miss}" for miss in expectation_misses(result)]
        for test, found in result.classes.items():
            expected = case.expected_class(test)
            if expected is not None:
                truth.append(expected)
                predicted.append(found)
    print()
    print(
        f"classifier over {len(truth)} failures of the matrix, against the class the injected "
        "fault or defect implies"
    )
    print("| class | n | precision | recall |")
    print("|---|---|---|---|")
    # The whole matrix must score every class; a few cases named are scored on what they hold.
    lines, missed_classes = scores(truth, predicted, need_samples=not names)
    for line in lines:
        print(line)
    print()
    named = sum(expected_parts(r.case) - len(unnamed_parts(r)) for r in results)
    suite_only = [r for r in results if r.case.suite_defect and not r.case.faults]
    mixed = [r for r in results if r.case.mixed]
    goals = [
        goal(
            f"precision and recall >= {SCORE_GOAL} in every class",
            len(CLASSES) - len(missed_classes),
            len(CLASSES),
        ),
        goal("every headline names its part", named, sum(expected_parts(c) for c in cases)),
        goal(
            "no test defect escalates",
            sum(1 for r in suite_only if r.verdict["escalation"] == "none"),
            len(suite_only),
        ),
        goal(
            "a mixed case names both causes",
            sum(1 for r in mixed if not unnamed_parts(r)),
            len(mixed),
        ),
    ]
    for line, _ in goals:
        print(line)
    misses += [f"goal: {line}" for line, ok in goals if not ok]
    misses += [f"goal: {miss}" for miss in missed_classes]
    wrong = sum(1 for t, p in zip(truth, predicted, strict=True) if t != p)
    if wrong:
        misses.append(f"{wrong} failure(s) put under a class the fault does not imply")
    for miss in misses:
        print(f"MISSED {miss}")
    agent = next((r for r in results if r.case.name == "agent_hang"), None)
    if agent is not None:
        print(f"agent_hang: {agent.seconds:.1f} s to verdict, goal <= {AGENT_HANG_GOAL_S:g} s")
        if agent.seconds > AGENT_HANG_GOAL_S:
            misses.append("agent_hang over its goal")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
