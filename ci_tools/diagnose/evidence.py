"""The evidence of one failure, gathered before it is classified and shown beside its group,
so a reviewer can check the call:

- *where it failed*: the last frame of the traceback inside the repository and whether it is
  the test body, a helper or fixture of the suite, or a client library under them;
- *what the service answered* to that very request (by trace id): the worst status, and the
  service's own error line reduced to its exception lines (never the file paths of a
  traceback, where a library's name says nothing of the cause);
- *what changed* since the last healthy run (else since the previous revision): per service,
  whether its own image or configuration changed, and which files of the suite changed in git.

Pure: the context and the run store's answer are passed in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from ci_tools.context.analysis import severity_rank
from ci_tools.context.model import Context, LogLine, ServiceContext
from ci_tools.records import Failure

ERROR = severity_rank("ERROR")
# A request line as services log it: "POST /api/threads 500".
REQUEST_LINE = re.compile(r"^(?P<method>[A-Z]+) (?P<path>/\S*) (?P<status>\d{3})$")
# The line that ends a Python traceback: "KeyError: 'title'", "redis.exceptions.X: ...".
_EXCEPTION_LINE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Timeout|Warning|"
    r"Interrupt|Closed\w*|Refused\w*|Reset\w*|Fault|Failure)): ?(?P<msg>.*)$"
)
_TRACEBACK_NOISE = re.compile(
    r"^(?:Traceback \(most recent call last\):|\s+File \"|\s{2,}\S|"
    r"The above exception|During handling of the above)"
)
# Path segments that are ids, not routes: /api/threads/3f2a... is /api/threads/{id}.
_ID_SEGMENT = re.compile(r"/(?:[0-9a-f]{8}-[0-9a-f-]{27,}|[0-9a-f]{16,}|\d+)(?=/|$)", re.I)


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+')
_LIBRARY = re.compile(r"[/\\](?:site|dist)-packages[/\\](?P<package>[A-Za-z_]\w*)")
_STDLIB = re.compile(r"[/\\]lib[/\\]python3\.\d+[/\\](?!(?:site|dist)-packages)")


def _library_below(frames: Sequence[str]) -> str:
    """The installed package called last from the service's own code (or the first one, when
    no frame is the service's): the dependency it was using when it failed."""
    owned = [
        i for i, path in enumerate(frames) if not _LIBRARY.search(path) and not _STDLIB.search(path)
    ]
    below = frames[owned[-1] + 1 :] if owned else frames
    for path in below:
        found = _LIBRARY.search(path)
        if found is not None:
            return found["package"]
    return ""


def error_lines(message: str) -> tuple[str, ...]:
    """A logged error reduced to what the rules may read: its first line, and the exception
    line ending each traceback in it (a chained error has several) prefixed by the installed
    package the service's code had called when it was raised (``redis: ConnectionError: ...``);
    never the frames, whose paths name every library on the stack."""
    lines = message.splitlines()
    if not lines:
        return ()
    kept = [lines[0].strip()]
    frames: list[str] = []
    for line in lines[1:]:
        frame = _FRAME.match(line)
        if frame is not None:
            frames.append(frame["path"])
            continue
        if _TRACEBACK_NOISE.match(line) or not line.strip():
            if line.startswith("Traceback"):
                frames = []
            continue
        if _EXCEPTION_LINE.match(line.strip()):
            library = _library_below(frames)
            kept.append(f"{library}: {line.strip()}" if library else line.strip())
    return tuple(dict.fromkeys(kept))


def route(path: str) -> str:
    """A request path without its query and with ids as ``{id}``: what names an endpoint."""
    return _ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one service answered to the failed test's requests."""

    service: str
    status: int | None  # the worst HTTP status of its request lines; None: none logged
    endpoint: str  # "POST /api/threads": the request that got the worst status
    error: str  # its own first error line, reduced (``error_lines``); "" for none
    last: int = 0  # the position of its worst request among the test's log lines

    @property
    def failed(self) -> bool:
        """A 5xx or an error line."""
        return bool(self.error) or (self.status or 0) >= 500

    @property
    def request(self) -> str:
        """``backend POST /api/threads``: the service and its worst request; "" without one."""
        return f"{self.service} {self.endpoint}" if self.endpoint else ""

    @property
    def text(self) -> str:
        """``backend answered 500 to POST /api/threads: AttributeError: ...``."""
        status = f" {self.status}" if self.status else ""
        to = f" to {self.endpoint}" if self.endpoint else ""
        said = f", logging `{self.error[:200]}`" if self.error else ", no error logged"
        return f"{self.service} answered{status}{to}{said}"


def answers(logs: Sequence[LogLine]) -> tuple[Answer, ...]:
    """Per service, the worst status its request lines show and its first error line."""
    found: dict[str, Answer] = {}
    for position, line in enumerate(logs, 1):
        known = found.get(line.service, Answer(line.service, None, "", ""))
        request = REQUEST_LINE.match(line.message.strip())
        if request is not None:
            status = int(request["status"])
            # Of equal statuses the latest: the request the test failed after.
            if known.status is None or status >= known.status:
                endpoint = f"{request['method']} {route(request['path'])}"
                known = dataclasses.replace(known, status=status, endpoint=endpoint, last=position)
        elif severity_rank(line.severity) >= ERROR and not known.error:
            known = dataclasses.replace(known, error=" | ".join(error_lines(line.message)))
        found[line.service] = known
    return tuple(found.values())


@dataclasses.dataclass(frozen=True)
class Change:
    """What changed in one service since a reference revision."""

    role: str
    since: str  # the revision compared with
    healthy: bool  # it served the last healthy run (else it is merely the previous one)
    image: bool
    config: tuple[str, ...]  # "env added: X", "VPC access", "scaling"

    @property
    def changed(self) -> bool:
        """Its image or its configuration."""
        return self.image or bool(self.config)

    @property
    def text(self) -> str:
        """``backend image changed since backend-00041 (healthy)``."""
        what = []
        if self.image:
            what.append("image")
        what += self.config
        since = f"{self.since} (healthy)" if self.healthy else self.since
        if not what:
            return f"{self.role} image and config unchanged since {since}"
        return f"{self.role} {', '.join(what)} changed since {since}"


def _change_since(service: ServiceContext, healthy: str | None) -> Change | None:
    current = service.revision
    if current is None:
        return None
    if healthy and healthy != current.name:
        before = next((d for d in service.deployed if d.name == healthy), None)
        if before is not None:
            now = next((d for d in service.deployed if d.name == current.name), None)
            if now is not None:
                moved: tuple[str, ...] = ("config",) if before.config != now.config else ()
                return Change(service.role, healthy, True, before.image != now.image, moved)
    if healthy and healthy == current.name:
        return Change(service.role, healthy, True, False, ())
    changes = service.changes
    if changes is None:
        return None
    config = tuple(
        label
        for label, on in (
            (f"env added: {', '.join(changes.env_added)}", changes.env_added),
            (f"env removed: {', '.join(changes.env_removed)}", changes.env_removed),
            (f"env kind changed: {', '.join(changes.env_kind_changed)}", changes.env_kind_changed),
            ("VPC access", changes.vpc_changed),
            ("scaling", changes.scaling_changed),
        )
        if on
    )
    return Change(service.role, changes.previous, False, changes.image_changed, config)


def changes(context: Context | None, healthy: Mapping[str, str] | None) -> dict[str, Change]:
    """Each service's change since the revision of the last healthy run (``healthy``: role →
    revision, from the run store), else since its previous revision; services whose
    revisions are unknown are left out."""
    found = {}
    for service in context.services if context else ():
        change = _change_since(service, (healthy or {}).get(service.role))
        if change is not None:
            found[service.role] = change
    return found


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Everything one failure is judged on, as a reviewer reads it."""

    where: str = ""
    frame: str = ""
    library: str = ""
    answers: tuple[Answer, ...] = ()
    changes: tuple[Change, ...] = ()  # of the services it reached (all, when it reached none)
    suite_changed: tuple[str, ...] = ()  # suite files changed in git since the last healthy run

    @property
    def worst(self) -> Answer | None:
        """The answer with the worst status or an error line."""
        if not self.answers:
            return None
        return max(self.answers, key=lambda a: (a.failed, a.status or 0, a.last))

    @property
    def platform_changed(self) -> bool | None:
        """Whether a service it reached changed since the reference (None: not known)."""
        if not self.changes:
            return None
        return any(c.changed for c in self.changes)

    @property
    def raised(self) -> str:
        """``raised in a helper of the suite at `tests/e2e/client.py:96```; "" unknown."""
        if self.frame == "collection":
            return f"raised while collecting `{self.where or 'the module'}`"
        if not (self.where or self.library):
            return ""
        kind = {
            "test": "the test body",
            "helper": "a helper of the suite",
            "fixture": "a fixture of the suite",
        }.get(self.frame, "the suite")
        at = f" at `{self.where}`" if self.where else ""
        if self.library:
            return f"raised in {self.library}, called from {kind}{at}"
        return f"raised in {kind}{at}"

    def lines(self) -> tuple[str, ...]:
        """The evidence as the worklog shows it, one fact a line."""
        shown = [self.raised] if self.raised else []
        # The worst answer and every other that failed or refused: a login's 200 beside a
        # 500 of the request that failed says nothing.
        worst = self.worst
        shown += [
            a.text
            for a in self.answers
            if (a.status is not None or a.error)
            and (a is worst or a.failed or (a.status or 0) >= 400)
        ]
        shown += [c.text for c in self.changes]
        if self.suite_changed:
            files = ", ".join(f"`{f}`" for f in self.suite_changed[:3])
            more = f" and {len(self.suite_changed) - 3} more" if len(self.suite_changed) > 3 else ""
            shown.append(f"suite changed since the last healthy run: {files}{more}")
        return tuple(shown)


def gather(
    failure: Failure | None,
    logs: Sequence[LogLine],
    changed: Mapping[str, Change],
    suite_changed: Sequence[str] = (),
) -> Evidence:
    """One failure's evidence from its record, its own log lines and the run's changes."""
    found = answers(logs)
    reached = {a.service for a in found}
    mine = tuple(c for role, c in changed.items() if role in reached) or tuple(changed.values())
    return Evidence(
        where=failure.where if failure else "",
        frame=failure.frame if failure else "",
        library=failure.library if failure else "",
        answers=found,
        changes=mine,
        suite_changed=tuple(suite_changed),
    )
