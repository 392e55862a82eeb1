"""The fault matrix as a table: each case run through the real main job (``nox -s e2e``).

Prints, per case: verdict, the phase whose gate stopped the run, the causes named (class),
escalation, seconds to verdict (the main job's wall time, platform start and stop included),
and tests run / not run. Below it, the classifier's precision and recall per class
(infrastructure / application / test) over every failure of the matrix, against the class the
injected fault implies (goal: 100% both ways), and the agent_hang goal (<= 45 s to verdict).

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
    run_case,
)

CLASSES = ("infrastructure", "application", "test")
AGENT_HANG_GOAL_S = 45.0


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


def scores(truth: list[str], predicted: list[str]) -> list[str]:
    """Precision and recall per class, with the counts behind them."""
    lines = []
    for failure_class in CLASSES:
        hits = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == failure_class)
        said = predicted.count(failure_class)
        real = truth.count(failure_class)
        precision = f"{hits / said:.0%} ({hits}/{said})" if said else "- (none predicted)"
        recall = f"{hits / real:.0%} ({hits}/{real})" if real else "- (none injected)"
        lines.append(f"| {failure_class} | {precision} | {recall} |")
    return lines


def main(names: list[str]) -> int:
    """Runs the cases, prints the table and the scores; exit 1 when anything is missed."""
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
    for case in cases:
        result = run_case(case)
        print(row(result), flush=True)
        misses += [f"{case.name}: {miss}" for miss in expectation_misses(result)]
        classes = result.classes
        if case.fault_class is not None:
            truth += [case.fault_class] * len(classes)
            predicted += list(classes.values())
    print()
    print(
        f"classifier over {len(truth)} failures of the matrix, against the injected fault's class"
    )
    print("| class | precision | recall |")
    print("|---|---|---|")
    for line in scores(truth, predicted):
        print(line)
    wrong = sum(1 for t, p in zip(truth, predicted, strict=True) if t != p)
    if wrong:
        misses.append(f"{wrong} failure(s) put under a class the fault does not imply")
    for miss in misses:
        print(f"MISSED {miss}")
    agent = next((c for c in cases if c.name == "agent_hang"), None)
    if agent is not None:
        print(f"agent_hang: goal <= {AGENT_HANG_GOAL_S:g} s to verdict (see its row)")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
