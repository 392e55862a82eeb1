"""Cloud Run services and revisions from the Cloud Run Admin API v2 (``google-cloud-run``).

The clients are created here and nowhere else, over REST, with an endpoint override
(``CI_TOOLS_RUN_ENDPOINT`` or config) so tests and users behind proxies can point them
elsewhere. Every call has an explicit timeout: without one a revision call can wait forever.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from google.cloud import run_v2

from ci_tools.context import analysis
from ci_tools.context._google import call, credentials_for
from ci_tools.context.sources import RequestCounter

PAGE_SIZE = 50  # one page holds the serving revision and its predecessors in practice


def _as_json(message: Any) -> dict[str, Any]:
    """A proto-plus message as the REST API's JSON (camelCase, enum names)."""
    data: dict[str, Any] = json.loads(type(message).to_json(message, use_integers_for_enums=False))
    return data


class CloudRunSource:
    """Services and revisions of one project and region."""

    kind = "cloud"

    def __init__(
        self, project: str, region: str, endpoint: str | None, timeout_s: float, deadline: float
    ) -> None:
        self.project = project
        self.region = region
        self.requests = RequestCounter()
        self._timeout = timeout_s
        self._deadline = deadline
        self._endpoint = endpoint
        self._clients: tuple[run_v2.ServicesClient, run_v2.RevisionsClient] | None = None
        self._lock = threading.Lock()

    def _make_clients(self) -> tuple[run_v2.ServicesClient, run_v2.RevisionsClient]:
        with self._lock:  # the stage's threads share the clients
            return self._clients_locked()

    def _clients_locked(self) -> tuple[run_v2.ServicesClient, run_v2.RevisionsClient]:
        if self._clients is None:
            creds, _ = credentials_for(self._endpoint)
            options = {"api_endpoint": self._endpoint} if self._endpoint else None
            self._clients = (
                run_v2.ServicesClient(credentials=creds, transport="rest", client_options=options),
                run_v2.RevisionsClient(credentials=creds, transport="rest", client_options=options),
            )
        return self._clients

    def _name(self, service: str) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{service}"

    def service(self, name: str) -> dict[str, Any]:
        """GET the Service resource."""
        services, _ = self._make_clients()
        self.requests.add("run")
        result = call(
            f"Cloud Run service {name}",
            lambda: services.get_service(name=self._name(name), timeout=self._timeout, retry=None),
            self._deadline,
        )
        return _as_json(result)

    def revisions(self, name: str) -> list[dict[str, Any]]:
        """The first page of the service's revisions (one request)."""
        _, revisions = self._make_clients()
        request = run_v2.ListRevisionsRequest(parent=self._name(name), page_size=PAGE_SIZE)

        def first_page() -> list[dict[str, Any]]:
            pager = revisions.list_revisions(request=request, timeout=self._timeout, retry=None)
            return [_as_json(r) for r in next(iter(pager.pages)).revisions]

        self.requests.add("run")
        return call(f"Cloud Run revisions of {name}", first_page, self._deadline)

    def revision_url(self, name: str) -> str:
        """The service's revisions page in the Cloud console."""
        return analysis.revision_url(self.project, self.region, name)
