"""The workflows' hygiene that no linter checks (least permissions, pinned actions, no
credentials left behind, no inputs spliced into shell), the outputs e2e.yml passes on, and
the promote condition of deploy-staging.yml judged as GitHub evaluates it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ci_tools.rundir.verdict import RunVerdict

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)")
AUTH = "google-github-actions/"


def load(path: Path) -> dict[str, Any]:
    """A workflow as data (YAML's `on` key read as the string it is)."""
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps (none for a job that calls a reusable workflow)."""
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def test_there_are_the_workflows_the_design_names() -> None:
    """ci.yml, e2e.yml, phase.yml and deploy-staging.yml, and no other."""
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy-staging.yml", "e2e.yml", "phase.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_none_at_the_top_and_the_least_per_job(path: Path) -> None:
    """`permissions: {}` at the top; each job names its own, and `id-token: write` only where
    Google auth runs (or a called workflow's job does)."""
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        granted: dict[str, str] = job.get("permissions", {})  # none: the top's {}
        runs_auth = any(str(s.get("uses", "")).startswith(AUTH) for s in steps(job))
        if runs_auth:
            assert granted.get("id-token") == "write", f"{path.name}: {name} runs auth"
        elif "uses" not in job:  # a job of steps that does not authenticate
            assert "id-token" not in granted, f"{path.name}: {name} needs no id-token"
        assert all(v == "read" for k, v in granted.items() if k != "id-token"), name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_sha_with_its_version(path: Path) -> None:
    """Every `uses:` of an action names a 40-hex commit and its version in a comment (a
    reusable workflow of this repository is named by its path)."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        used = USES.match(line)
        if used is None or used.group(1).startswith("./"):
            continue
        assert PINNED.match(line), f"{path.name}:{number}: not pinned to a SHA: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_leave_no_credentials_and_no_input_reaches_a_shell(path: Path) -> None:
    """actions/checkout with `persist-credentials: false`; no `${{ inputs.* }}` or
    `${{ github.event.* }}` inside a `run:` (they go through `env:`)."""
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, name
            script = str(step.get("run", ""))
            assert not re.search(r"\$\{\{\s*(inputs|github\.event)\.", script), (name, script)


def test_the_played_workflows_pin_only_the_actions_kept_offline() -> None:
    """e2e.yml and phase.yml (played with act) use only the pins of ../shared/actions, so a
    play offline finds every one."""
    offline = {
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065",
        "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02",
        "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093",
        "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684",
        "google-github-actions/auth@6fc4af4b145ae7821d527454aa9bd537d1f2dc5f",
    }
    for path in WORKFLOWS:
        if path.name not in ("e2e.yml", "phase.yml"):
            continue
        for line in path.read_text().splitlines():
            pinned = PINNED.match(line)
            if pinned:
                repo = "/".join(pinned.group(1).split("/")[:2])  # actions/cache/restore -> cache
                assert f"{repo}@{pinned.group(2)}" in offline, line.strip()


def test_e2e_passes_on_every_output_of_its_report_job() -> None:
    """Each output of e2e.yml is its report job's output of the same name, which is the
    report step's; among them whether the deploy made anything worse (`regressions`,
    `not_compared`)."""
    workflow = load(WORKFLOWS_DIR / "e2e.yml")
    exposed = workflow["on"]["workflow_call"]["outputs"]
    report = workflow["jobs"]["report"]["outputs"]
    assert {"verdict", "suite_broken", "regressions", "not_compared"} <= set(exposed)
    assert set(exposed) == set(report)
    for name, output in exposed.items():
        assert output["value"] == f"${{{{ jobs.report.outputs.{name} }}}}", name
        assert report[name] == f"${{{{ steps.report.outputs.{name} }}}}", name


def test_e2e_exposes_only_outputs_the_report_writes() -> None:
    """Every output the report job passes on is a `$GITHUB_OUTPUT` name of `ci-tools report`
    (a run judged with history, which writes them all)."""
    written = RunVerdict(
        "unhealthy", "P1", 1, 3, 2, 1, 0, 0, "x", new_failures=1, known_failures=0
    ).outputs()
    exposed = load(WORKFLOWS_DIR / "e2e.yml")["jobs"]["report"]["outputs"]
    assert set(exposed) <= set(written)


def test_the_deploy_promotes_on_what_verify_exposes() -> None:
    """deploy-staging.yml's promote job reads only outputs e2e.yml has, and its policy is an
    input of a run started by hand: healthy (the default) or no-regressions."""
    deploy = load(WORKFLOWS_DIR / "deploy-staging.yml")
    exposed = load(WORKFLOWS_DIR / "e2e.yml")["on"]["workflow_call"]["outputs"]
    read = set(re.findall(r"needs\.verify\.outputs\.(\w+)", deploy["jobs"]["promote"]["if"]))
    assert read == {"verdict", "regressions", "not_compared"}
    assert read <= set(exposed)
    policy = deploy["on"]["workflow_dispatch"]["inputs"]["promote_when"]
    assert policy["options"] == ["healthy", "no-regressions"]
    assert policy["default"] == "healthy"


PROMOTE = [
    # (policy: the input, else the repository variable), verdict, regressions, not_compared
    pytest.param({}, "healthy", "0", "0", True, id="healthy"),
    pytest.param({}, "suite_broken", "0", "0", True, id="suite-broken"),
    pytest.param({}, "unhealthy", "0", "0", False, id="failures-not-its-doing-by-default"),
    pytest.param({}, "incomplete", "", "0", False, id="incomplete"),
    pytest.param({"input": "no-regressions"}, "healthy", "0", "0", True, id="nr-healthy"),
    pytest.param({"input": "no-regressions"}, "unhealthy", "0", "0", True, id="nr-none-its-own"),
    pytest.param({"input": "no-regressions"}, "unhealthy", "1", "0", False, id="nr-regression"),
    pytest.param({"input": "no-regressions"}, "unhealthy", "0", "2", False, id="nr-uncompared"),
    pytest.param({"input": "no-regressions"}, "unhealthy", "", "3", False, id="nr-no-experiment"),
    pytest.param({"input": "no-regressions"}, "incomplete", "0", "0", False, id="nr-incomplete"),
    pytest.param({"input": "no-regressions"}, "unknown", "0", "0", False, id="nr-unknown"),
    pytest.param({"var": "no-regressions"}, "unhealthy", "0", "0", True, id="push-variable"),
    pytest.param(
        {"input": "healthy", "var": "no-regressions"}, "unhealthy", "0", "0", False, id="input-wins"
    ),
]


@pytest.mark.parametrize(("policy", "verdict", "regressions", "not_compared", "promoted"), PROMOTE)
def test_the_promote_condition_follows_the_policy(
    policy: dict[str, str], verdict: str, regressions: str, not_compared: str, promoted: bool
) -> None:
    """healthy: promote a healthy deploy or one failing only for the suite's own defects;
    no-regressions: also an unhealthy one when none of its failures is a regression and every
    one was compared; never an incomplete or unknown run, nor one the experiment compared
    nothing of (`regressions` empty)."""
    condition = load(WORKFLOWS_DIR / "deploy-staging.yml")["jobs"]["promote"]["if"]
    outputs = {"verdict": verdict, "regressions": regressions, "not_compared": not_compared}
    contexts = {
        "needs": {"verify": {"outputs": outputs}},
        "inputs": {"promote_when": policy["input"]} if "input" in policy else {},  # a push: none
        "vars": {"PROMOTE_WHEN": policy["var"]} if "var" in policy else {},
    }
    assert truthy(evaluate(condition, contexts)) is promoted


def test_the_expression_reader_reads_as_github_does() -> None:
    """The reader the test above uses: operands from ``||``/``&&``, null for what is missing,
    strings compared ignoring case, ``!`` and parentheses."""
    contexts = {"needs": {"a": {"outputs": {"n": "0"}}}}
    assert evaluate("inputs.x || vars.Y || 'healthy'", contexts) == "healthy"
    assert evaluate("needs.a.outputs.n && 'yes'", contexts) == "yes"
    assert evaluate("needs.a.outputs.missing == ''", contexts) is True  # both 0 as numbers
    assert evaluate("needs.a.outputs.missing == 'healthy'", contexts) is False
    assert evaluate("'' == '0'", contexts) is False  # two strings: compared as strings
    assert evaluate("contains(fromJSON('[\"Healthy\", \"x\"]'), 'healthy')", contexts)
    assert evaluate("!(needs.a.outputs.n != '0') && 'it''s'", contexts) == "it's"


# The part of GitHub's expression language a job's `if:` here uses
# (https://docs.github.com/en/actions/reference/evaluate-expressions-in-workflows-and-actions).
_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\|\||&&|==|!=|[!(),])|([A-Za-z_][\w.-]*))")


def evaluate(expression: str, contexts: dict[str, Any]) -> Any:
    """``expression`` (without ``${{ }}``) evaluated as GitHub does: ``||`` and ``&&`` give an
    operand, ``==`` compares strings ignoring case, a missing property is null, and the
    functions ``contains`` and ``fromJSON``."""
    tokens: list[str] = []
    at = 0
    while expression[at:].strip():
        found = _TOKEN.match(expression, at)
        assert found, f"cannot read {expression[at:]!r}"
        tokens.append(found.group().strip())
        at = found.end()
    value, rest = _either(tokens, contexts)
    assert not rest, rest
    return value


def _either(tokens: list[str], contexts: dict[str, Any]) -> tuple[Any, list[str]]:
    value, tokens = _both(tokens, contexts)
    while tokens[:1] == ["||"]:
        right, tokens = _both(tokens[1:], contexts)
        value = value if truthy(value) else right
    return value, tokens


def _both(tokens: list[str], contexts: dict[str, Any]) -> tuple[Any, list[str]]:
    value, tokens = _compared(tokens, contexts)
    while tokens[:1] == ["&&"]:
        right, tokens = _compared(tokens[1:], contexts)
        value = right if truthy(value) else value
    return value, tokens


def _compared(tokens: list[str], contexts: dict[str, Any]) -> tuple[Any, list[str]]:
    value, tokens = _single(tokens, contexts)
    while tokens[:1] in (["=="], ["!="]):
        right, rest = _single(tokens[1:], contexts)
        value, tokens = (_equal(value, right) == (tokens[0] == "==")), rest
    return value, tokens


def _single(tokens: list[str], contexts: dict[str, Any]) -> tuple[Any, list[str]]:
    first, rest = tokens[0], tokens[1:]
    if first == "!":
        value, rest = _single(rest, contexts)
        return not truthy(value), rest
    if first == "(":
        value, rest = _either(rest, contexts)
        assert rest[:1] == [")"], rest
        return value, rest[1:]
    if first.startswith("'"):
        return first[1:-1].replace("''", "'"), rest
    if rest[:1] == ["("]:
        args: list[Any] = []
        rest = rest[1:]
        while rest[:1] != [")"]:
            arg, rest = _either(rest, contexts)
            args.append(arg)
            rest = rest[1:] if rest[:1] == [","] else rest
        return _call(first, args), rest[1:]
    found: Any = contexts
    for name in first.split("."):
        found = found.get(name) if isinstance(found, dict) else None
    return found, rest


def _call(name: str, args: list[Any]) -> Any:
    if name == "fromJSON":
        return json.loads(args[0])
    assert name == "contains", f"no function {name} here"
    where, item = args
    if isinstance(where, list):
        return any(_equal(element, item) for element in where)
    return str(item or "").lower() in str(where or "").lower()


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right):
        return bool(left == right)
    return _number(left) == _number(right)  # NaN equals nothing


def _number(value: Any) -> float:
    """GitHub's coercion of unlike types: null 0, booleans 1 and 0, '' 0, text NaN."""
    if value is None or isinstance(value, bool):
        return float(bool(value))
    try:
        return float(value.strip() or 0) if isinstance(value, str) else float(value)
    except ValueError:
        return float("nan")


def truthy(value: Any) -> bool:
    """GitHub's truth: null, false, 0 and '' are false."""
    return value not in (None, False, 0, "")
