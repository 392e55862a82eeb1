"""Each escape helper of ``ci_tools.escape`` alone: what it does to hostile text, judged by
the runner's command parser and GitHub's Markdown renderer (cmark-gfm), and that ordinary
text comes out as it went in."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ci_tools import escape
from tests.fakes.payloads import parse_workflow_command, payloads, to_html, workflow_commands

# Text without NUL (cmark reads it as U+FFFD): what is rendered reads as what was written.
TEXT = (st.text(st.characters(codec="utf-8")) | payloads()).map(lambda t: t.replace("\x00", ""))


def text_of(rendered: str) -> str:
    """What a reader sees of rendered HTML: its tags dropped, entities read."""
    return html.unescape(re.sub(r"<[^>]*>", "", rendered))


def one_line(text: str) -> str:
    """``text`` with its Markdown line endings as spaces, as the helpers put it."""
    return re.sub(r"\r\n|[\r\n]", " ", text)


def tags(rendered: str) -> list[str]:
    """The names of the HTML elements opened in ``rendered``."""
    return re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", rendered)


# The terminal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::error::x", ":\u200b:error:\u200b:x"),
        ("GET /##[stop-commands]tok", "GET /#\u200b#[stop-commands]tok"),
        (":::", ":\u200b:\u200b:"),
        ("a\rb\nc", "a\\rb\\nc"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("line\u2028sep", "line\\u2028sep"),
        ("Error 111 to 10.0.0.1:6379\tagain", "Error 111 to 10.0.0.1:6379\tagain"),
    ],
)  # fmt: skip
def test_terminal_splits_command_markers_and_shows_control_characters(
    text: str, expected: str
) -> None:
    """``::`` and ``##[`` get a zero-width space; ``\\r``, ``\\n``, ESC and U+2028 read as
    escapes; a tab and ordinary text are kept."""
    assert escape.terminal(text) == expected


@given(TEXT)
@example("::stop-commands::tok")
@example("x" * 70 + " ::add-mask::secret")
def test_terminal_text_is_no_command_wherever_a_line_breaks(text: str) -> None:
    """No ``::`` nor ``##[`` and no line break survive: whatever position a wrap starts a
    line at, the runner reads no command."""
    out = escape.terminal(text)
    assert "::" not in out
    assert "##[" not in out
    assert not set(out) & set("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    assert len(out.splitlines()) <= 1
    assert not any(workflow_commands(out[i:]) for i in range(len(out)))


@given(st.text(st.characters(codec="ascii", min_codepoint=0x20, max_codepoint=0x7E)))
def test_terminal_keeps_printable_text_without_markers(text: str) -> None:
    """Printable text without ``::`` or ``##[`` is printed as it is."""
    if "::" not in text and "##[" not in text:
        assert escape.terminal(text) == text


# Workflow commands ------------------------------------------------------------------------


def test_command_escaping_is_githubs() -> None:
    """Data escapes ``%``, ``\\r``, ``\\n``; a property also ``:`` and ``,``."""
    assert escape.command_data("50% a\r\nb::c") == "50%25 a%0D%0Ab::c"
    assert escape.command_property("x: a,b%") == "x%3A a%2Cb%25"


@given(TEXT, TEXT)
def test_a_command_stays_one_line_and_reads_back_as_written(data: str, title: str) -> None:
    """A command built from any message and title is one line the runner reads back to the
    same message and title."""
    line = f"::error title={escape.command_property(title)}::{escape.command_data(data)}"
    assert len(re.split(r"\r\n|\r|\n", line)) == 1
    assert parse_workflow_command(line) == ("error", {"title": title}, data)


# Markdown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Error 111 connecting to 10.0.0.1:6379", "Error 111 connecting to 10.0.0.1:6379"),
        ("tests/e2e/test_login_fails.py", "tests/e2e/test_login_fails.py"),
        ("logging `KeyError: 'x'` twice", "logging `KeyError: 'x'` twice"),
        ("a`b</details>", "a\\`b&lt;/details&gt;"),
        ("x\r# Deploy healthy", "x # Deploy healthy"),
        ("# Deploy healthy", "\\# Deploy healthy"),
        ("1. first", "1\\. first"),
        ("- item", "\\- item"),
        ("---", "\\---"),
        ("<!-- c -->", "&lt;!-- c --&gt;"),
        ("*b* [x](y) __init__ ~s~ a\\b", "\\*b\\* \\[x\\](y) \\_\\_init\\_\\_ \\~s\\~ a\\\\b"),
        ("a | b", "a \\| b"),
    ],
)  # fmt: skip
def test_inline_escapes_what_markdown_acts_on(text: str, expected: str) -> None:
    """Markup outside code spans is escaped, a block marker at the start too; code spans and
    ordinary words are kept."""
    assert escape.inline(text) == expected


def test_cell_escapes_pipes_inside_code_spans_too() -> None:
    """In a table a pipe splits the cell even inside a code span: it is escaped there too;
    a leading "-" (the table's placeholder) is kept."""
    assert escape.cell("a|b `c|d`") == "a\\|b `c\\|d`"
    assert escape.cell("-") == "-"
    assert escape.inline("`c|d`") == "`c|d`"


@given(TEXT.filter(lambda t: "`" not in t))
@example("x\r# Deploy healthy")
@example("</details>\n\n## Summary")
def test_inline_text_renders_as_one_list_item_reading_as_written(text: str) -> None:
    """As a list item, any text is one item with no heading, HTML or other block, and reads
    as written (line breaks as spaces)."""
    rendered = to_html(f"- {escape.inline(text)}\n")
    assert rendered.count("<li>") == 1
    assert set(tags(rendered)) <= {"ul", "li", "a"}  # GFM links a bare URL
    assert text_of(rendered).strip() == one_line(text).strip()


@given(TEXT)
@example("a`b</details>")
@example("``x` </details> <h1>")
def test_inline_text_with_backticks_opens_no_block(text: str) -> None:
    """With backticks anywhere, the list item holds only code spans, text and links."""
    rendered = to_html(f"- {escape.inline(text)}\n\nafter\n")
    assert rendered.count("<li>") == 1
    assert set(tags(rendered)) <= {"ul", "li", "a", "code", "p"}
    assert rendered.rstrip().endswith("<p>after</p>")


@given(TEXT)
@example("a | b `c|d` e")
def test_cell_text_stays_in_its_cell(text: str) -> None:
    """In a table row, any text is one cell of one row."""
    rendered = to_html(f"| h | i |\n|---|---|\n| {escape.cell(text)} | z |\n")
    assert rendered.count("<tr>") == 2
    cells = re.findall(r"<td>.*?</td>", rendered, re.S)
    assert len(cells) == 2
    assert cells[-1] == "<td>z</td>"
    assert set(tags(rendered)) <= {"table", "thead", "tbody", "tr", "th", "td", "a", "code"}


@given(TEXT.filter(lambda t: one_line(t) != ""))
@example("a`b")
@example("`")
@example(" `x` ")
@example("a|b")
def test_code_renders_one_span_of_the_text(text: str) -> None:
    """A code span holds the text as written, whatever backticks it has, in a paragraph and
    in a table cell."""
    rendered = to_html(escape.code(text))
    assert re.fullmatch(r"<p><code>.*</code></p>\n", rendered, re.S)
    assert html.unescape(rendered[len("<p><code>") : -len("</code></p>\n")]) == one_line(text)
    cell = to_html(f"| h |\n|---|\n| {escape.code(text, table=True)} |\n")
    assert re.search(r"<td><code>(.*)</code></td>", cell, re.S)


def test_code_of_nothing_is_a_dash() -> None:
    """An empty value is the table's placeholder, not an empty span."""
    assert escape.code("") == "-"


@given(TEXT)
@example("</summary></details>\n\n# Deploy healthy")
@example("\r\r<details>")
def test_html_text_stays_inside_its_summary(text: str) -> None:
    """In a ``<summary>``, any text is one summary of one ``<details>`` reading as written."""
    rendered = to_html(f"<details><summary>{escape.html(text)}</summary>\n\n</details>\n")
    assert rendered.count("<details>") == rendered.count("</details>") == 1
    assert set(tags(rendered)) == {"details", "summary"}
    assert text_of(rendered).strip() == one_line(text).strip()


@given(st.lists(TEXT, min_size=1, max_size=5))
@example(["```", "</details>"])
@example(["~~~~", "````` x"])
def test_a_fenced_block_holds_its_lines(lines: list[str]) -> None:
    """No line closes the fence early: the block holds every line, and what follows it is
    Markdown again."""
    rendered = to_html(escape.fenced(lines) + "\n\nafter\n")
    body = re.fullmatch(r'<pre lang="text"><code>(.*)</code></pre>\n<p>after</p>\n', rendered, re.S)
    assert body is not None, rendered
    assert html.unescape(body.group(1)) == "\n".join(one_line(line) for line in lines) + "\n"


@given(TEXT)
@example("https://x/a b)(<c>")
def test_url_is_one_link(text: str) -> None:
    """Any URL is the destination of one link labelled as given."""
    rendered = to_html(f"[label]({escape.url(text)})")
    assert rendered.count("<a ") == 1
    assert text_of(rendered).strip() == "label"


def test_an_ordinary_url_is_kept() -> None:
    """A console link keeps its characters."""
    link = "https://console.cloud.google.com/logs/query;query=a%20b;timeRange=x?project=p&t=1"
    assert escape.url(link) == link


@given(TEXT)
def test_a_whole_line_is_no_command_and_stays_one_line(text: str) -> None:
    """A line printed whole: no workflow command, whatever it holds, and one line."""
    shown = escape.line(text)
    assert not workflow_commands(shown)
    assert not re.search(r"[\r\n\u2028\u2029]", shown)


def test_a_whole_line_keeps_a_test_id_copyable() -> None:
    """A ``::`` inside a word (a test id) is left as written; one that starts a word is split."""
    assert escape.line("tests/x.py::test_y[a]") == "tests/x.py::test_y[a]"
    assert escape.line("::error::x") != "::error::x"
    assert escape.line("  ::stop-commands::tok").strip()[:3] != "::s"
