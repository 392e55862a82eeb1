"""Untrusted text made inert where it is written, one helper per place: a failure message, a
test id, a log line, a service name or a URL came from a service, a test or a log, and must
say only what it says.

- ``terminal``: a line printed to stdout or stderr in GitHub Actions. The runner takes a line
  that starts (after whitespace, or after a lone ``\\r``) with ``::name ...::`` as a workflow
  command (``::stop-commands::`` switches off every annotation after it), and the legacy
  ``##[name]`` anywhere in a line; rich wraps long lines, so a ``::`` in the middle of one can
  reach a line's start. Every ``::`` and ``##[`` is split by a zero-width space, and control
  characters (``\\r``, ``\\n``, ESC...) are shown as escapes: one line, no command.
- ``line``: a line ci_tools prints whole (a progress or gate line, never wrapped): the same,
  except that a ``::`` inside a word stays as it is (``tests/x.py::test_y`` can be copied
  back into pytest); one at the line's start or after whitespace is split.
- ``command_data``, ``command_property``: GitHub's own escaping of a workflow command.
- ``inline``, ``cell``, ``code``, ``html``, ``fenced``, ``url``: GitHub-flavoured Markdown (the
  worklog and the step summary): text in a list item or a paragraph, in a table cell, a code
  span, raw HTML (``<summary>``), a fenced code block, a link's destination. None of them lets
  the text open or close a block, start a heading, or write HTML.

Ordinary text (no control characters, no Markdown) reads as it did: the helpers change only
what could act.
"""

from __future__ import annotations

import functools
import html as _html
import re
import urllib.parse
from collections.abc import Iterable

ZWSP = "\u200b"  # splits "::" and "##[" for the runner; invisible to a reader
# Characters a log viewer or a terminal may take as a line break or a control sequence: C0
# (but tab), DEL, C1, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}
_COMMAND = re.compile(r":(?=:)|#(?=#\[)")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def terminal(text: object) -> str:
    """``text`` as one line for stdout that the Actions runner cannot take as a workflow
    command, wherever a wrap puts it: ``::`` and ``##[`` are split by a zero-width space,
    control characters shown as ``\\r``, ``\\n``, ``\\x1b``."""
    return _COMMAND.sub(lambda m: m.group() + ZWSP, _CONTROL.sub(_visible, str(text)))


_COMMAND_AT_WORD = re.compile(r"(?:^|(?<=\s)):(?=:)|#(?=#\[)")


def line(text: object) -> str:
    """``text`` as one whole line for stdout (printed as it is, never wrapped): control
    characters shown as escapes, ``##[`` split, ``::`` split where a word starts with it."""
    return _COMMAND_AT_WORD.sub(lambda m: m.group() + ZWSP, _CONTROL.sub(_visible, str(text)))


def command_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub reads it back: ``%``, ``\\r``, ``\\n``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def command_property(text: str) -> str:
    """A workflow command's property value: the message's escaping, and ``:`` and ``,``."""
    return command_data(text).replace(":", "%3A").replace(",", "%2C")


# Markdown ---------------------------------------------------------------------------------

_LINE_ENDINGS = re.compile(r"\r\n|[\r\n]")
_TICKS = re.compile(r"`+")
# Outside code spans: every character Markdown or HTML may act on, but "_" inside a word
# (where it cannot emphasise: test_login_fails reads as it is) and "#" (a heading only at
# a line's start, handled there).
_SPECIAL = re.compile(r"[\\`*\[\]|<>&~]|(?<![^\W_])_|_(?![^\W_])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# What opens a block at the start of a line: a heading, a list item, a thematic break or a
# setext underline ("*", "_", "`", "~", "<" and ">" are escaped wherever they are).
_LEADING = re.compile(r"(?:#{1,6}|[-+]|\d{1,9}[.)])(?=[ \t]|$)|-{3,}[ \t-]*$|=+[ \t]*$")


def _one_line(text: object) -> str:
    return _LINE_ENDINGS.sub(" ", str(text))


def _escape_text(text: str) -> str:
    return _SPECIAL.sub(lambda m: _ENTITIES.get(m.group()) or "\\" + m.group(), text)


def _spans(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (is a code span, part), as CommonMark pairs backtick runs: a run
    opens a span when a later run has the same length; a run with none is literal."""
    runs = list(_TICKS.finditer(text))
    parts: list[tuple[bool, str]] = []
    at = 0
    index = 0
    while index < len(runs):
        opening = runs[index]
        size = len(opening.group())
        closing = next(
            (j for j in range(index + 1, len(runs)) if len(runs[j].group()) == size), None
        )
        if closing is None:
            index += 1
            continue
        parts.append((False, text[at : opening.start()]))
        parts.append((True, text[opening.start() : runs[closing].end()]))
        at = runs[closing].end()
        index = closing + 1
    parts.append((False, text[at:]))
    return [(span, part) for span, part in parts if part]


def _markdown(text: object, *, table: bool) -> str:
    return _markdown_of(str(text), table)


@functools.lru_cache(maxsize=16384)
def _markdown_of(text: str, table: bool) -> str:
    """By the text: a report renders the same failure texts in the worklog and in each rung
    of the summary's ladder."""
    plain = _one_line(text).strip()
    out = []
    for span, part in _spans(plain):
        if span:  # literal in Markdown; only a table splits its cells at a pipe inside
            out.append(part.replace("|", "\\|") if table else part)
        else:
            out.append(_escape_text(part))
    joined = "".join(out)
    if table:  # a cell holds inline content only: no block starts there
        return joined
    if _LEADING.match(joined) is None:
        return joined
    at = len(joined) - len(joined.lstrip("0123456789"))  # the marker: after an item's number
    return joined[:at] + "\\" + joined[at:]


def inline(text: object) -> str:
    """Text for a list item or a paragraph: one line, code spans kept as spans, everything
    else literal (no HTML, emphasis, link, heading or list it could start)."""
    return _markdown(text, table=False)


def cell(text: object) -> str:
    """Text for a table cell: ``inline``, and no pipe that would split the cell."""
    return _markdown(text, table=True)


def code(text: object, *, table: bool = False, empty: str = "-") -> str:
    """``text`` as one code span, whatever backticks it holds (its fence is longer than any
    run inside); ``empty`` for no text."""
    content = _one_line(text)
    if not content:
        return empty
    fence = "`" * (max((len(run) for run in _TICKS.findall(content)), default=0) + 1)
    if (
        content[0] == "`"
        or content[-1] == "`"
        or (content[0] == " " and content[-1] == " " and content.strip(" "))
    ):
        content = f" {content} "  # CommonMark strips one space from each side
    if table:
        content = content.replace("|", "\\|")
    return f"{fence}{content}{fence}"


def html(text: object) -> str:
    """Text inside raw HTML (``<summary>``): escaped, and on one line (a blank line would
    end the HTML block and let Markdown in)."""
    return _html.escape(_one_line(text))


def fenced(lines: Iterable[object], info: str = "text") -> str:
    """A fenced code block of ``lines``: the fence is longer than any backtick run inside, so
    no line closes it."""
    body = "\n".join(_one_line(line) for line in lines)
    longest = max((len(run) for run in _TICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def url(text: object) -> str:
    """A link's destination: whitespace, control characters, brackets of Markdown and HTML
    and non-ASCII percent-encoded (an encoded URL is kept as it is)."""
    return urllib.parse.quote(str(text), safe="!#$%&'*+,/:;=?@[]~-._")
