"""Turns a worklog.md into a PNG screenshot, roughly as GitHub would show it.

The worklog is GitHub-flavoured Markdown meant for a GitHub Actions step summary. This script
renders it with markdown-it-py (CommonMark with raw HTML, tables and strikethrough), wraps it
in a small page with a GitHub-like stylesheet, opens every ``<details>`` so its content is in
the picture, and takes a screenshot with Debian's headless Chromium::

    python scripts/screenshot_worklog.py reports/latest/worklog.md docs/worklog.png

Without ``--height`` the page is measured first (Chromium's ``--dump-dom`` after a script has
written the page's height into the DOM), then captured at that height, capped at
``MAX_HEIGHT``; if the measurement fails, the height is estimated from the Markdown.
Errors are one line on stderr and exit status 2.

With ``--mermaid PATH`` (the ``mermaid.min.js`` of the npm package, which ``nox -s docs``
installs), the worklog's ``mermaid`` blocks (its trend chart) are drawn by the real Mermaid
library before the screenshot; a chart Mermaid rejects, as GitHub would, is an error naming
Mermaid's message, not a picture of a broken chart.

Needs ``apt-get install chromium``; for the worklog's emoji (✅ ❌ ⏭️) also
``apt-get install fonts-noto-color-emoji``, without which they show as empty boxes.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

DEFAULT_WIDTH = 1100
MIN_HEIGHT = 400
MAX_HEIGHT = 8000
CHROMIUM_TIMEOUT_S = 60
EXIT_USAGE = 2

CSS = """
* { box-sizing: border-box; }
html { background: #ffffff; }
body {
  margin: 0 auto; padding: 24px 32px 32px; max-width: 1000px;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial,
    sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji";
  font-size: 14px; line-height: 1.5; color: #1f2328; word-wrap: break-word;
}
h1, h2, h3 { margin: 24px 0 16px; font-weight: 600; line-height: 1.25; }
h1 { font-size: 2em; padding-bottom: .3em; border-bottom: 1px solid #d1d9e0; margin-top: 0; }
h2 { font-size: 1.5em; padding-bottom: .3em; border-bottom: 1px solid #d1d9e0; }
h3 { font-size: 1.25em; }
p, ul, ol, table, pre, details { margin: 0 0 16px; }
ul, ol { padding-left: 2em; }
li + li { margin-top: .25em; }
a { color: #0969da; text-decoration: none; }
a:not([href]) { color: inherit; }
code {
  font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono",
    "DejaVu Sans Mono", monospace;
  font-size: 85%; padding: .2em .4em; border-radius: 6px; background: rgba(129, 139, 152, .12);
}
pre {
  padding: 16px; overflow: auto; font-size: 85%; line-height: 1.45;
  background: #f6f8fa; border-radius: 6px;
}
pre code { padding: 0; background: transparent; font-size: 100%; white-space: pre; }
table { border-collapse: collapse; border-spacing: 0; display: block; width: max-content;
  max-width: 100%; overflow: auto; }
th, td { padding: 6px 13px; border: 1px solid #d1d9e0; }
th { font-weight: 600; }
tr { background: #ffffff; border-top: 1px solid #d1d9e0; }
tr:nth-child(2n) { background: #f6f8fa; }
details { padding-left: 0; }
summary { cursor: pointer; margin-bottom: 8px; }
hr { height: .25em; margin: 24px 0; background: #d1d9e0; border: 0; }
blockquote { margin: 0 0 16px; padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
"""

# Writes the page's height into the DOM, where --dump-dom shows it.
MEASURE_SCRIPT = (
    "<script>window.addEventListener('load', function () {"
    " document.body.setAttribute('data-page-height',"
    " String(Math.ceil(document.documentElement.scrollHeight))); });</script>"
)

# Draws every mermaid block, then notes success or Mermaid's error where --dump-dom shows it.
MERMAID_SCRIPT = (
    '<script src="{src}"></script><script>'
    "mermaid.initialize({{startOnLoad: false, securityLevel: 'strict'}});"
    "window.addEventListener('load', async function () {{"
    " try {{ await mermaid.run({{querySelector: 'pre.mermaid'}});"
    " document.body.setAttribute('data-mermaid', 'ok'); }}"
    " catch (e) {{ document.body.setAttribute('data-mermaid-error', String(e.message || e)); }}"
    " document.body.setAttribute('data-page-height',"
    " String(Math.ceil(document.documentElement.scrollHeight))); }});</script>"
)
MERMAID_WAIT_MS = 10_000  # virtual time Chromium gives the page's scripts before capturing

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ScreenshotError(Exception):
    """A failure to report as one line on stderr (exit status 2)."""


class GitHubLikeMarkdown(MarkdownIt):
    """CommonMark with raw HTML, GFM tables and strikethrough; ``file:`` links are parsed.

    markdown-it rejects ``file:`` destinations and leaves ``[text](file:///...)`` as literal
    text, whereas GitHub parses the link and its sanitizer then drops the ``href``, showing
    the text alone. ``render_markdown`` does the same.
    """

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": True})
        self.enable(["table", "strikethrough"])

    def validateLink(self, url: str) -> bool:  # markdown-it spells it so
        """Accepts ``file:`` links (their href is removed after rendering); else the default."""
        return url.strip().lower().startswith("file:") or super().validateLink(url)


def render_markdown(text: str) -> str:
    """Renders GitHub-flavoured Markdown to an HTML fragment, with every ``<details>`` open
    and every ``mermaid`` code block as a ``<pre class="mermaid">`` for Mermaid to draw."""
    fragment = GitHubLikeMarkdown().render(text)
    fragment = re.sub(r'<a href="file:[^"]*"', "<a", fragment)
    fragment = re.sub(
        r'<pre><code class="language-mermaid">(.*?)</code></pre>',
        r'<pre class="mermaid">\1</pre>',
        fragment,
        flags=re.DOTALL,
    )
    return re.sub(r"<details(?![^>]*\bopen\b)", "<details open", fragment)


def html_page(
    fragment: str, title: str, *, measure: bool = False, mermaid: Path | None = None
) -> str:
    """Wraps an HTML fragment in a page with the inline GitHub-like stylesheet (and Mermaid,
    which also measures the page once it has drawn)."""
    if mermaid is not None:
        script = MERMAID_SCRIPT.format(src=mermaid.resolve().as_uri())
    else:
        script = MEASURE_SCRIPT if measure else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style>{script}</head>\n"
        f"<body>\n{fragment}</body></html>\n"
    )


def estimate_height(markdown: str) -> int:
    """A rough page height in pixels from the Markdown: about 24 px a line, plus margins."""
    lines = markdown.count("\n") + 1
    headings = sum(1 for line in markdown.splitlines() if line.startswith("#"))
    return MIN_HEIGHT + 24 * lines + 40 * headings


def find_chromium() -> str:
    """The path of the ``chromium`` executable, or a ScreenshotError saying how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise ScreenshotError(
            "chromium is not installed; install it with: apt-get install chromium"
        )
    return path


def run_chromium(chromium: str, profile: Path, width: int, height: int, *args: str) -> str:
    """Runs headless Chromium with a fresh profile and no background networking; its stdout."""
    argv = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        *args,
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ScreenshotError(f"chromium gave no answer within {CHROMIUM_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScreenshotError(f"chromium failed with exit status {done.returncode}: {last}")
    return done.stdout


def page_dom(chromium: str, page: Path, width: int, *args: str) -> str | None:
    """The page's DOM once Chromium has laid it out (and run its scripts); None on failure."""
    with tempfile.TemporaryDirectory(prefix="worklog-measure-") as profile:
        try:
            return run_chromium(
                chromium, Path(profile), width, MIN_HEIGHT, *args, "--dump-dom", page.as_uri()
            )
        except ScreenshotError:
            return None


def measure_height(chromium: str, page: Path, width: int) -> int | None:
    """The page's height in pixels at this width, as laid out by Chromium; None if unknown."""
    dom = page_dom(chromium, page, width)
    found = re.search(r'data-page-height="(\d+)"', dom or "")
    return int(found.group(1)) if found else None


def check_mermaid(chromium: str, page: Path, width: int) -> int | None:
    """Draws the page's Mermaid blocks; their error as a ScreenshotError; the page height."""
    dom = page_dom(chromium, page, width, f"--virtual-time-budget={MERMAID_WAIT_MS}")
    if dom is None:
        raise ScreenshotError("chromium could not lay out the page to draw its Mermaid charts")
    error = re.search(r'data-mermaid-error="([^"]*)"', dom)
    if error:
        message = html.unescape(error.group(1)).replace("\n", " ")[:300]
        raise ScreenshotError(f"a Mermaid chart of the worklog does not parse: {message}")
    if 'data-mermaid="ok"' not in dom:
        raise ScreenshotError(f"Mermaid did not finish drawing within {MERMAID_WAIT_MS} ms")
    found = re.search(r'data-page-height="(\d+)"', dom)
    return int(found.group(1)) if found else None


def screenshot(
    worklog: Path, out: Path, width: int, height: int | None, mermaid: Path | None = None
) -> int:
    """Writes ``out`` (PNG) from the worklog; returns the height used, in pixels."""
    if not worklog.is_file():
        raise ScreenshotError(f"no such worklog: {worklog}")
    if mermaid is not None and not mermaid.is_file():
        raise ScreenshotError(f"no Mermaid library at {mermaid}: npm install mermaid")
    chromium = find_chromium()
    markdown = worklog.read_text(encoding="utf-8")
    fragment = render_markdown(markdown)
    wait: tuple[str, ...] = ()
    with tempfile.TemporaryDirectory(prefix="worklog-shot-") as tmp:
        tmp_dir = Path(tmp)
        page = tmp_dir / "worklog.html"
        if mermaid is not None:
            page.write_text(html_page(fragment, worklog.name, mermaid=mermaid), encoding="utf-8")
            measured = check_mermaid(chromium, page, width)
            height = height or measured or estimate_height(markdown)
            height = max(MIN_HEIGHT, min(height, MAX_HEIGHT))
            wait = (f"--virtual-time-budget={MERMAID_WAIT_MS}",)
        elif height is None:
            page.write_text(html_page(fragment, worklog.name, measure=True), encoding="utf-8")
            height = measure_height(chromium, page, width) or estimate_height(markdown)
            height = max(MIN_HEIGHT, min(height, MAX_HEIGHT))
        if mermaid is None:
            page.write_text(html_page(fragment, worklog.name), encoding="utf-8")
        profile = tmp_dir / "profile"
        profile.mkdir()
        target = out.resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        run_chromium(
            chromium, profile, width, height, *wait, f"--screenshot={target}", page.as_uri()
        )
        if not target.is_file():
            raise ScreenshotError(f"chromium wrote no screenshot to {out}")
    return height


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: WORKLOG.md OUT.png [--width N] [--height N]."""
    parser = argparse.ArgumentParser(
        description="Screenshot a worklog.md roughly as GitHub would show it (headless Chromium)."
    )
    parser.add_argument("worklog", type=Path, help="the worklog.md to render")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument(
        "--width", type=int, default=DEFAULT_WIDTH, help=f"window width in px ({DEFAULT_WIDTH})"
    )
    parser.add_argument(
        "--height",
        type=int,
        default=None,
        help=f"window height in px (default: the page's measured height, at most {MAX_HEIGHT})",
    )
    parser.add_argument(
        "--mermaid",
        type=Path,
        default=None,
        help="mermaid.min.js (npm package mermaid): draw the worklog's charts with it",
    )
    args = parser.parse_args(argv)
    if args.width <= 0 or (args.height is not None and args.height <= 0):
        parser.error("--width and --height must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point: writes the PNG and prints its path, size and height; 2 on error."""
    args = parse_args(argv)
    try:
        height = screenshot(args.worklog, args.out, args.width, args.height, args.mermaid)
    except ScreenshotError as exc:
        print(f"screenshot_worklog: {exc}", file=sys.stderr)
        return EXIT_USAGE
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({args.width}x{height} px, {size_kb:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
