"""The README and docs/ stay true: every generated example is what the code renders now from
the committed runs (``scripts/generate_docs.py``), and every command they show exists."""

from __future__ import annotations

import difflib
import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools import arguments
from reference_platform.faults import parse_faults
from scripts import generate_docs as docs

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `nox -s docs -- --render-only` (or `nox -s docs` for new runs) and review the diff"
# A fenced block's opening line and the code spans of prose.
_FENCE = re.compile(r"^(`{3,}|~{3,})(\S*)\s*$")
_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
SHELL_INFOS = ("", "sh", "bash", "shell", "console")


@pytest.fixture(scope="module")
def rendered() -> dict[str, docs.Rendered]:
    """Every example rendered from its committed run, once for this module."""
    return docs.render_all()


def _documents() -> list[Path]:
    return docs.documents(ROOT)


def test_every_generated_block_is_what_the_committed_runs_render_now(
    rendered: dict[str, docs.Rendered],
) -> None:
    """Each block between the generated markers equals what the current code renders from
    docs/runs: a change of the worklog's or the job log's wording fails here until the docs
    are rewritten."""
    stale = []
    for path in _documents():
        for what, body in docs.blocks(path.read_text(encoding="utf-8")):
            expected = docs.block(what, rendered)
            if body != expected:
                diff = difflib.unified_diff(
                    body.splitlines(), expected.splitlines(), "committed", "rendered", lineterm=""
                )
                shown = "\n".join(list(diff)[:30])
                stale.append(f"{path.relative_to(ROOT)}: <!-- generated: {what} -->\n{shown}")
    assert not stale, f"{len(stale)} stale block(s); {FIX}:\n\n" + "\n\n".join(stale)


def test_the_docs_hold_generated_blocks_of_every_kind() -> None:
    """The README shows a generated job log and worklog head, and every example is shown
    somewhere (a block or a screenshot), so no committed run is kept for nothing."""
    found = [what for path in _documents() for what, _ in docs.blocks(path.read_text())]
    readme = [what for what, _ in docs.blocks((ROOT / "README.md").read_text())]
    assert {what.split()[0] for what in readme} >= {"job-log", "summary"}
    shown = {what.split()[1] for what in found}
    shown |= {e.name for e in docs.EXAMPLES if e.screenshot}
    assert shown == {e.name for e in docs.EXAMPLES}


def test_rewriting_a_document_fills_its_blocks_and_keeps_the_rest() -> None:
    """``rewrite`` replaces only what lies between the markers; an unknown kind or example
    is an error naming the block."""
    rendered = {"x": docs.Rendered(worklog="# W\n\n## Summary\n\nok\n\n## Phases\n", job_log="L\n")}
    text = "a\n<!-- generated: job-log x -->\nold\n<!-- /generated -->\nb\n"
    assert docs.rewrite(text, rendered) == (
        "a\n<!-- generated: job-log x -->\n```text\nL\n```\n<!-- /generated -->\nb\n"
    )
    summary = docs.block("summary x", rendered)
    assert summary == "```markdown\n# W\n\n## Summary\n\nok\n```\n"
    with pytest.raises(docs.DocsError, match="no example 'y'"):
        docs.block("job-log y", rendered)
    with pytest.raises(docs.DocsError, match="no kind 'table'"):
        docs.block("table x", rendered)


def test_normalising_runs_leaves_no_trace_of_the_machine(tmp_path: Path) -> None:
    """Paths of the checkout and of temporary folders go, times move to the fixed day (run
    ids with them), revisions are counted from 1 and ports from 40001, consistently."""
    root = tmp_path / "checkout"
    run = {
        "run.json": '{"run_id": "e2e-20261206-031000"}',
        "phase1.jsonl": (
            f'{{"file": "{root}/tests/e2e/x.py", "start": "2026-12-06T03:10:05.250Z", '
            '"message": "Error 111 connecting to 127.0.0.1:36687 (\'127.0.0.1\', 36687)", '
            '"tmp": "/tmp/broken-abc/tests", "rev": "backend-00066-fag since backend-00065-ngt"}'
        ),
    }
    done = docs.normalise({"one": run}, root)["one"]
    assert done["run.json"] == '{"run_id": "e2e-20260302-090000"}'
    records = done["phase1.jsonl"]
    assert str(root) not in records
    assert '"file": "tests/e2e/x.py"' in records
    assert "2026-03-02T09:00:05.250Z" in records
    assert "127.0.0.1:40001 ('127.0.0.1', 40001)" in records
    assert f"{docs.TEMP_MASK}/tests" in records
    assert "backend-00002-fag since backend-00001-ngt" in records


def test_the_committed_runs_hold_no_path_of_this_machine() -> None:
    """docs/runs/ holds no absolute path of a checkout, a home or a temporary folder."""
    leaks = re.compile(r"/(?:home|root|work|Users)/|/tmp/(?!…)|" + re.escape(str(ROOT)))
    found = [
        f"{path.relative_to(ROOT)}: {match[0]}"
        for path in sorted(docs.RUNS.rglob("*"))
        if path.is_file()
        for match in leaks.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, "normalise() missed:\n" + "\n".join(found[:10])


def _shown_commands() -> list[tuple[str, str]]:
    """Every command the documents show: the lines of shell code blocks and the code spans
    of prose, by document."""
    found = []
    for path in _documents():
        fence = info = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            opening = _FENCE.match(line)
            if fence:
                if opening and opening[1].startswith(fence) and not opening[2]:
                    fence = ""
                elif info in SHELL_INFOS:
                    found.append((path.name, line.strip()))
            elif opening:
                fence, info = opening[1], opening[2]
            else:
                found += [(path.name, span.replace("\\|", "|")) for span in _SPAN.findall(line)]
    return found


def _commands(line: str) -> list[list[str]]:
    """The words of each command of a line (``a && b | c``), without its comment."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # prose with an apostrophe: not a command
        return []
    commands: list[list[str]] = [[]]
    for word in words:
        if word in ("|", "&&", ";", "||"):
            commands.append([])
        else:
            commands[-1].append(word)
    return [words for words in commands if words]


def _ci_tools_commands() -> list[tuple[str, list[str]]]:
    return [
        (f"{name}: {line}", words[1:])
        for name, line in _shown_commands()
        for words in _commands(line)
        if words[0] == "ci-tools" and len(words) > 1
    ]


def test_the_docs_show_ci_tools_commands() -> None:
    """The check below has something to check."""
    assert len(_ci_tools_commands()) >= 5


@pytest.mark.parametrize(
    ("where", "argv"), _ci_tools_commands(), ids=lambda x: " ".join(str(x).split())[:60]
)
def test_every_ci_tools_command_shown_parses(
    where: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``ci-tools ...`` command of the docs names a real command with real options, and a
    wildcard never names the run store or ``latest`` (``history import reports/*`` did)."""
    own = argv[: argv.index("--")] if "--" in argv else argv
    try:
        args = arguments.parser().parse_args(own)
    except SystemExit as exc:
        pytest.fail(f"{where}: exit {exc.code}: {capsys.readouterr().err.strip()}")
    for word in (str(d) for d in getattr(args, "dirs", ()) or ()):
        named = [n for n in ("reports/history.db", "reports/latest") if fnmatch.fnmatch(n, word)]
        assert not named, f"{where}: {word} also names {named[0]}, which is not a run"


def _sessions() -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "-f", str(ROOT / "noxfile.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {m[1] for m in re.finditer(r"^[*-] (\S+) ->", done.stdout, re.MULTILINE)}


def test_every_nox_session_shown_exists() -> None:
    """Every ``nox -s NAME`` of the docs is a session ``nox -l`` lists, and every fault given
    after it (``--fault X``) is one the reference platform knows."""
    sessions = _sessions()
    assert {"e2e", "tests", "docs"} <= sessions
    shown = [
        (f"{name}: {line}", words)
        for name, line in _shown_commands()
        for words in _commands(line)
        if "nox" in words and "-s" in words[:-1]
    ]
    assert len(shown) >= 10
    for where, words in shown:
        name = words[words.index("-s") + 1]
        name = re.sub(r"^phaseN$", "phase1", name)  # phaseN: any phase's session
        assert name in sessions, f"{where}: nox -s {name}: no such session"
        faults = [words[at + 1] for at, word in enumerate(words[:-1]) if word == "--fault"]
        parse_faults(faults)  # raises, naming the fault, for one the platform does not know


def test_every_example_runs_faults_the_platform_knows() -> None:
    """The examples' faults parse as the platform's, so ``nox -s docs`` can run them."""
    for example in docs.EXAMPLES:
        parse_faults(example.faults)


def test_every_link_between_the_documents_resolves() -> None:
    """Relative links and images of the README and docs/ name files that exist."""
    missing = []
    for path in _documents():
        for target in _LINK.findall(path.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (path.parent / target.split("#", 1)[0]).exists():
                missing.append(f"{path.relative_to(ROOT)}: {target}")
    assert not missing, "\n".join(missing)
