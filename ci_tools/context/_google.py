"""What both Google sources share: credentials, bounded retries, one-line errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import google.auth
import google.auth.exceptions
import requests
import tenacity
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials

from ci_tools.context.sources import SourceError

T = TypeVar("T")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform.read-only",)


def credentials_for(endpoint: str | None) -> tuple[Credentials, str | None]:
    """Anonymous credentials for an ``http://`` test server; otherwise Application Default
    Credentials (what Workload Identity Federation provides in GitHub Actions)."""
    if endpoint and endpoint.startswith("http://"):
        return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
    try:
        creds, project = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        raise SourceError(
            "no Google credentials: in GitHub Actions authenticate with Workload Identity "
            "Federation (google-github-actions/auth); locally run "
            "`gcloud auth application-default login`"
        ) from None
    return creds, project


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, api_exceptions.TooManyRequests | api_exceptions.ServiceUnavailable)


def call(what: str, fn: Callable[[], T], deadline: float, attempts: int = 3) -> T:
    """Runs one API call with a bounded retry of 429 and 503 (exponential backoff), inside the
    stage's deadline; every failure becomes a SourceError of one line."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_transient),
        stop=tenacity.stop_after_attempt(attempts)
        | tenacity.stop_before_delay(max(deadline - time.monotonic(), 0)),
        wait=tenacity.wait_exponential(multiplier=0.2, max=2.0),
        reraise=True,
    )
    try:
        return retrying(fn)
    except api_exceptions.TooManyRequests:
        raise SourceError(
            f"{what}: rate limited (429) after {attempts} tries; Cloud Logging "
            "allows about 60 reads a minute per project"
        ) from None
    except api_exceptions.ServiceUnavailable as exc:
        raise SourceError(
            f"{what}: service unavailable (503) after {attempts} tries: {_first_line(exc.message)}"
        ) from None
    except api_exceptions.Forbidden as exc:
        raise SourceError(
            f"{what}: permission denied (403): give the CI identity "
            f"roles/run.viewer and roles/logging.viewer ({_first_line(exc.message)})"
        ) from None
    except api_exceptions.NotFound as exc:
        raise SourceError(
            f"{what}: not found (404): check the project, region and service "
            f"names in [tool.ci_tools.environments] ({_first_line(exc.message)})"
        ) from None
    except api_exceptions.DeadlineExceeded:
        raise SourceError(f"{what}: no answer in time") from None
    except api_exceptions.GoogleAPICallError as exc:
        raise SourceError(
            f"{what}: {type(exc).__name__} ({exc.code}): {_first_line(exc.message)}"
        ) from None
    except requests.exceptions.Timeout:
        raise SourceError(f"{what}: no answer in time") from None
    except requests.exceptions.ConnectionError as exc:
        raise SourceError(f"{what}: cannot connect ({_first_line(str(exc))})") from None
    except google.auth.exceptions.GoogleAuthError as exc:
        raise SourceError(f"{what}: authentication failed ({_first_line(str(exc))})") from None
    except Exception as exc:  # noqa: BLE001 - a malformed answer must not fail the run either
        raise SourceError(
            f"{what}: unexpected {type(exc).__name__}: {_first_line(str(exc))}"
        ) from None


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0][:200] if lines else ""
