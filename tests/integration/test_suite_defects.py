"""The fault matrix's broken copies of the suite: each defect still fits the committed suite,
breaks only its copy, and breaks it the way its name says (seen through real pytest and git)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.suite_defects import (
    LINKED,
    ROOT,
    SUITE_DEFECTS,
    Edit,
    SuiteDefect,
    SuiteDefectError,
    broken,
    broken_copy,
)


def _git(copy: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None, "git not found on PATH"
    return subprocess.run([git, *args], cwd=copy, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("chosen", SUITE_DEFECTS, ids=[d.name for d in SUITE_DEFECTS])
def test_each_defect_is_one_commit_on_the_suite_as_checked_out(
    tmp_path: Path, chosen: SuiteDefect
) -> None:
    """The copy's last commit changes exactly the defect's file, by exactly its edit; the
    checkout's file is untouched and the platform folder and runs are the checkout's."""
    committed = (ROOT / chosen.edit.path).read_text()
    copy = broken_copy(chosen.name, tmp_path)
    assert (ROOT / chosen.edit.path).read_text() == committed
    assert (copy / chosen.edit.path).read_text() == committed.replace(
        chosen.edit.old, chosen.edit.new
    )
    subjects = _git(copy, "log", "--format=%s").splitlines()
    assert subjects == [f"tests: {chosen.what}", "the suite as checked out"]
    assert _git(copy, "show", "--name-only", "--format=", "HEAD").split() == [chosen.edit.path]
    assert _git(copy, "status", "--porcelain") == ""
    for linked in LINKED:
        assert (copy / linked).resolve() == (ROOT / linked).resolve()


def _collect(copy: Path, folder: str) -> subprocess.CompletedProcess[str]:
    """pytest's collection of a folder of the copy, as the main job's pytest would see it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", folder],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_error_breaks_collection_of_its_module_only_in_the_copy(
    tmp_path: Path,
) -> None:
    """In the copy, collecting phase 2 fails on the missing helper's ImportError; the same
    collection in the checkout succeeds."""
    copy = broken_copy("import_error", tmp_path)
    result = _collect(copy, "tests/e2e/phase2_critical")
    assert result.returncode == 2, result.stdout
    assert "ImportError: cannot import name 'wait_for_answer' from 'tests.e2e.client'" in (
        result.stdout
    )
    assert _collect(ROOT, "tests/e2e/phase2_critical").returncode == 0


def test_the_fixture_error_is_a_name_error_of_the_user_fixture(tmp_path: Path) -> None:
    """The copy's user fixture raises NameError naming the undefined name when it runs."""
    copy = broken_copy("fixture_error", tmp_path)
    probe = copy / "tests" / "e2e" / "test_probe.py"
    probe.write_text(
        "import pytest\n"
        "from tests.e2e.client import Platform\n\n"
        "@pytest.fixture\n"
        "def platform() -> Platform:\n"
        "    return Platform({}, None, None, ('a@example.com',), lambda: '')  # type: ignore\n\n"
        "def test_probe(user: object) -> None:\n"
        "    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "NameError: name 'FIRST_USER' is not defined" in result.stdout, result.stdout
    assert "1 error" in result.stdout


def test_a_defect_whose_text_moved_is_refused_naming_the_file() -> None:
    """An edit whose text is not in the file exactly once is refused in one line naming the
    file and where to fix it."""
    edit = Edit("tests/e2e/client.py", "return 1", "return 2")
    for text, count in (("nothing here", 0), ("return 1\nreturn 1\n", 2)):
        with pytest.raises(SuiteDefectError) as caught:
            broken(text, edit)
        assert str(caught.value) == (
            f"tests/e2e/client.py holds 'return 1' {count} times, not once: the suite changed, "
            "so update its edit in tests/integration/suite_defects.py"
        )


def test_an_unknown_defect_is_refused_with_the_valid_ones(tmp_path: Path) -> None:
    """A defect name that is not in the table is refused naming every valid one, before
    anything is copied."""
    with pytest.raises(SuiteDefectError) as caught:
        broken_copy("typo", tmp_path)
    assert str(caught.value) == (
        "unknown suite defect 'typo': choose from " + ", ".join(d.name for d in SUITE_DEFECTS)
    )
    assert list(tmp_path.iterdir()) == []
