"""The classifier on the real-exception corpus: accuracy, precision and recall per class.

Scores ``tests/corpus`` (failures raised by real libraries under real conditions, and
verbatim failure texts from public threads) with the trace-linked server logs and without
them, prints both tables with their n and every misclassified entry, and exits 1 when a goal
is missed: accuracy >= 0.95 and every class's precision and recall >= 0.9, both ways.

    python benchmarks/classifier_corpus.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, from anywhere

from tests.corpus.score import GOAL_ACCURACY, GOAL_EACH, Score, load_all, render, score


def _misses(result: Score) -> list[str]:
    lines = [f"misclassified {result.label} ({len(result.misses)}):"]
    for miss in result.misses:
        lines.append(f"  {miss.id}: expected {miss.expected}, got {miss.got} (rule {miss.rule})")
        lines.append(f"      {miss.text[:160]}")
        lines.extend(f"      log: {line[:150]}" for line in miss.logs if line.strip())
    return lines


def main() -> int:
    """Prints both scores and the misses; 1 when a goal is missed."""
    started = time.perf_counter()
    entries = load_all()
    results = [score(entries, with_logs=True), score(entries, with_logs=False)]
    sources = {"generated": 0, "verbatim": 0}
    for entry in entries:
        sources["generated" if entry.source.startswith("generated:") else "verbatim"] += 1
    print(
        f"corpus: {len(entries)} entries ({sources['generated']} generated, "
        f"{sources['verbatim']} verbatim)"
    )
    for result in results:
        print(render(result))
    for result in results:
        print("\n".join(_misses(result)))
    shortfalls = [line for result in results for line in result.shortfalls()]
    print(f"scored in {time.perf_counter() - started:.2f} s")
    if shortfalls:
        print("goals missed:\n  " + "\n  ".join(shortfalls))
        return 1
    print(
        f"goals met: accuracy >= {GOAL_ACCURACY:.2f}, each class precision and recall "
        f">= {GOAL_EACH:.2f}, both ways"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
