"""``ci-tools history``: the last runs of an environment and its least successful tests, as
text for a terminal (inert for the Actions runner: ``ci_tools.escape.terminal``) or one JSON
document for scripts."""

from __future__ import annotations

import dataclasses
import json

from ci_tools import escape
from ci_tools.history.analysis import phase_trend, sparkline, success_rates
from ci_tools.history.store import open_store

LOWEST = 10  # tests shown with the lowest success rate


def show(url: str, env: str, limit: int, window: int, *, as_json: bool = False) -> str:
    """What the store holds of ``env``: its last ``limit`` runs, and the tests with the
    lowest success rate over its last ``window`` runs."""
    store = open_store(url)
    try:
        runs = store.runs(env, limit=max(limit, window))
        results = store.results([r.key for r in runs[:window]])
    finally:
        store.close()
    rates = success_rates(runs[:window], results, lambda r: r.nodeid)
    lowest = sorted(
        ((str(k), v) for k, v in rates.items() if v.value is not None and v.value < 1),
        key=lambda item: (item[1].value or 0.0, item[0]),
    )[:LOWEST]
    if as_json:
        return json.dumps(
            {
                "env": env,
                "store": store.where,
                "runs": [
                    {k: v for k, v in dataclasses.asdict(r).items() if k != "key"}
                    for r in runs[:limit]
                ],
                "lowest_success": [
                    {"nodeid": k, "passed": v.passed, "results": v.total, "runs": v.runs}
                    for k, v in lowest
                ],
            },
            indent=2,
        )
    if not runs:
        return escape.terminal(f"no runs of {env} in {store.where}")
    lines = [f"last {min(limit, len(runs))} run(s) of {env} in {store.where}:"]
    for run in runs[:limit]:
        stopped = f", stopped at phase {run.first_failed_phase}" if run.first_failed_phase else ""
        attempt = f" (attempt {run.attempt})" if run.attempt > 1 else ""
        outage = ", outage" if run.outage else ""
        lines.append(
            f"  {run.started[:19].replace('T', ' ')}  {run.run_id}{attempt}  {run.verdict}, "
            f"escalation {run.escalation}{stopped}{outage}  commit {run.commit or '?'}"
        )
    shown = list(reversed(runs[:window]))
    ids = {run.key: run.run_id for run in shown}
    pairs: dict[str, list[tuple[int, str]]] = {}
    for result in results:
        pairs.setdefault(ids.get(result.run, ""), []).append((result.phase, result.outcome))
    phases = sorted({result.phase for result in results})
    trend = phase_trend(shown, pairs, phases)
    if len(trend) > 1:
        lines.append("pass rate per phase, oldest to newest (· not run):")
        lines += [f"  phase {n}  {sparkline([point.rates[n] for point in trend])}" for n in phases]
    if lowest:
        lines.append(f"lowest success over the last {min(window, len(runs))} run(s):")
        lines += [f"  {v.value or 0:.0%} ({v.passed}/{v.total})  {k}" for k, v in lowest]
    else:
        lines.append(f"every test passed in each of the last {min(window, len(runs))} run(s)")
    # Node ids, run ids and commits came from tests and the store: inert for the runner.
    return "\n".join(escape.terminal(line) for line in lines)
