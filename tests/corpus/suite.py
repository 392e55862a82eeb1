"""The throw-away suite the generator runs under real pytest, and what each of its tests is.

Its files are written to a temporary folder laid out as a project (``tests/e2e/client.py``, a
``conftest.py``, test modules), so pytest's collection, fixtures and tracebacks are the real
ones; every test provokes one real failure. ``CASES`` names the class each failure belongs to,
the part it hits and what was done, by test function (or, for a module that cannot be
collected, by its path).
"""

# The templates below are the text of a test suite written to disk, kept as written.
# ruff: noqa: E501

from __future__ import annotations

import dataclasses

from ci_tools.rules import APPLICATION, INFRASTRUCTURE, TEST, FailureClass


@dataclasses.dataclass(frozen=True)
class Case:
    """What one generated failure is."""

    expected: FailureClass
    part: str
    what: str  # what was done, for the entry's source


INI = """\
[pytest]
addopts = --strict-markers -p no:cacheprovider --continue-on-collection-errors
markers =
    p1: business priority 1
"""

CONFTEST = """\
import hashlib
import json
import os

import httpx
import pytest

from tests.e2e.client import Client


@pytest.fixture(scope="session")
def urls():
    return json.loads(os.environ["CORPUS_URLS"])


@pytest.fixture
def trace(request):
    return hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:32]


@pytest.fixture
def http(trace):
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    with httpx.Client(headers=headers, timeout=3.0) as client:
        yield client


@pytest.fixture
def client(http, urls):
    return Client(http, urls["backend"])


@pytest.fixture(scope="session")
def signing_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def admin_session(client):
    return client.login(role=ADMIN_ROLE)


@pytest.fixture
def thread(client):
    created = {"id": "t1", "title": "e2e thread"}
    yield created
    client.delete_thread(created["id"])


@pytest.fixture(scope="session")
def shared_token(http):
    return http.headers["authorization"]


@pytest.fixture
def user_a(user_b):
    return user_b


@pytest.fixture
def user_b(user_a):
    return user_a
"""

CLIENT = '''\
"""The platform as the suite sees it: one helper per call."""

import httpx


class Client:
    def __init__(self, http: httpx.Client, base: str) -> None:
        self.http = http
        self.base = base

    def _expect(self, response, status, what):
        assert response.status_code == status, f"{what}: HTTP {response.status_code}"
        return response

    def get_json(self, path):
        response = self.http.get(f"{self.base}{path}")
        response.raise_for_status()
        return response.json()

    def health(self):
        return self._expect(self.http.get(f"{self.base}/api/health"), 200, "health").json()

    def health_at(self, base):
        return self._expect(self.http.get(f"{base}/api/health"), 200, "health").json()

    def health_relative(self):
        return self.http.get(f"{self.base}api/health").json()

    def create_session(self):
        return self._expect(self.http.post(f"{self.base}/api/sessions"), 201, "create session")

    def cache_report(self):
        return self._expect(self.http.post(f"{self.base}/api/cache"), 201, "cache report")

    def count_visit(self):
        return self._expect(self.http.post(f"{self.base}/api/counters"), 200, "count visit")

    def cached(self):
        return self._expect(self.http.get(f"{self.base}/api/slow-cache"), 200, "read cache")

    def tags(self):
        return self._expect(self.http.get(f"{self.base}/api/tags"), 200, "list tags").json()

    def list_threads(self):
        return self._expect(self.http.get(f"{self.base}/api/threads"), 200, "list threads")

    def search(self, query):
        response = self.http.get(f"{self.base}/api/search", params={"q": query})
        return self._expect(response, 200, "search")

    def profile(self):
        return self._expect(self.http.get(f"{self.base}/api/profile"), 200, "profile")

    def users(self):
        return self._expect(self.http.get(f"{self.base}/api/users"), 200, "list users")

    def create_order(self):
        return self._expect(self.http.post(f"{self.base}/api/orders"), 201, "create order")

    def reports(self):
        return self._expect(self.http.get(f"{self.base}/api/reports"), 200, "list reports")

    def rates(self):
        return self._expect(self.http.get(f"{self.base}/api/upstream"), 200, "read rates")

    def ask(self, question):
        response = self.http.post(f"{self.base}/api/answers", json={"q": question})
        return self._expect(response, 200, "ask").json()

    def create_thread(self, title="e2e thread"):
        response = self.http.post(f"{self.base}/api/threads", json={"title": title})
        return self._expect(response, 201, "create thread").json()

    def thread_id(self, thread):
        return self.get_json(f"/api/v2/threads/{thread}")["thread_id"]

    def login(self, ttl=300):
        response = self.http.post(f"{self.base}/api/login", params={"ttl": ttl})
        return self._expect(response, 200, "login").json()["access_token"]

    def me(self, token, strict=False):
        path = "/api/me/strict" if strict else "/api/me"
        response = self.http.get(f"{self.base}{path}", headers={"authorization": f"Bearer {token}"})
        return self._expect(response, 200, "me").json()

    def answer(self):
        return self._expect(self.http.get(f"{self.base}/api/answer"), 200, "answer").json()["answer"]

    def events(self):
        return self._expect(self.http.get(f"{self.base}/api/events"), 200, "events").json()["events"]

    def export(self):
        return self._expect(self.http.get(f"{self.base}/api/export"), 200, "export").json()

    def items(self):
        return self._expect(self.http.get(f"{self.base}/api/items"), 200, "items").json()["items"]

    def stream(self):
        with self.http.stream("GET", f"{self.base}/api/stream") as response:
            return [line for line in response.iter_lines()]

    def read_messages(self, thread):
        response = self.http.get(f"{self.base}/api/thread/{thread}/messages")
        return self._expect(response, 200, "read messages").json()

    def post_message(self, thread, text):
        response = self.http.post(f"{self.base}/api/threads/{thread}/messages", json={"text": text})
        return self._expect(response, 201, "post message").json()

    def signup(self, email):
        response = self.http.post(f"{self.base}/api/signup", json={"mail": email})
        return self._expect(response, 201, "signup").json()


def first_text(messages):
    for message in messages:
        text = message["text"]
    return text
'''

INFRA_REDIS = """\
import redis

HOST = "127.0.0.1"


def test_redis_refused(urls):
    redis.Redis(host=HOST, port=urls["redis_closed"], socket_connect_timeout=1).ping()


def test_redis_read_timeout(urls):
    redis.Redis(host=HOST, port=urls["blackhole"], socket_timeout=0.5).ping()


def test_redis_closed_by_server(urls):
    redis.Redis(host=HOST, port=urls["closer"], socket_timeout=1).ping()


def test_redis_full(urls):
    redis.Redis(host=HOST, port=urls["redis_full"]).set("session:e2e", "x" * 4096)


def test_redis_readonly_replica(urls):
    redis.Redis(host=HOST, port=urls["redis_replica"]).set("session:e2e", "x")


def test_redis_wrong_password(urls):
    redis.Redis(host=HOST, port=urls["redis_auth"], password="not-the-password").ping()


def test_redis_pool_exhausted(urls):
    pool = redis.BlockingConnectionPool(host=HOST, port=urls["redis"], max_connections=1, timeout=0.5)
    held = pool.get_connection()
    try:
        redis.Redis(connection_pool=pool).ping()
    finally:
        pool.release(held)
"""

INFRA_POSTGRES = """\
import asyncio

import asyncpg
import psycopg
import sqlalchemy

HOST = "127.0.0.1"


def _dsn(urls, port=None, password=None, user="postgres", database="postgres"):
    password = urls["pg_password"] if password is None else password
    return f"postgresql://{user}:{password}@{HOST}:{port or urls['postgres']}/{database}"


def test_asyncpg_refused(urls):
    asyncio.run(asyncpg.connect(_dsn(urls, port=urls["pg_closed"])))


def test_asyncpg_wrong_password(urls):
    asyncio.run(asyncpg.connect(_dsn(urls, password="wrong-password")))


def test_asyncpg_no_answer(urls):
    asyncio.run(asyncpg.connect(_dsn(urls, port=urls["blackhole"]), timeout=0.5))


def test_asyncpg_missing_database(urls):
    asyncio.run(asyncpg.connect(_dsn(urls, database="app_production")))


def test_asyncpg_too_many_connections(urls):
    async def two():
        first = await asyncpg.connect(_dsn(urls, user="app", password="app-password"))
        try:
            await asyncpg.connect(_dsn(urls, user="app", password="app-password"))
        finally:
            await first.close()

    asyncio.run(two())


def test_asyncpg_terminated(urls):
    async def killed():
        conn = await asyncpg.connect(_dsn(urls))
        admin = await asyncpg.connect(_dsn(urls))
        await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
        await admin.close()
        await asyncio.sleep(0.2)
        await conn.fetch("SELECT 1")

    asyncio.run(killed())


def test_psycopg_refused(urls):
    psycopg.connect(_dsn(urls, port=urls["pg_closed"]))


def test_psycopg_wrong_password(urls):
    psycopg.connect(_dsn(urls, password="wrong-password"))


def test_psycopg_server_closed(urls):
    psycopg.connect(_dsn(urls, port=urls["closer"]))


def test_psycopg_connect_timeout(urls):
    psycopg.connect(_dsn(urls, port=urls["blackhole"]), connect_timeout=1)


def test_psycopg_terminated(urls):
    conn = psycopg.connect(_dsn(urls))
    with psycopg.connect(_dsn(urls)) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    conn.execute("SELECT 1")


def test_sqlalchemy_pool_timeout(urls):
    url = _dsn(urls).replace("postgresql://", "postgresql+psycopg://")
    engine = sqlalchemy.create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.5)
    held = engine.connect()
    try:
        engine.connect()
    finally:
        held.close()


def test_sqlalchemy_refused(urls):
    url = _dsn(urls, port=urls["pg_closed"]).replace("postgresql://", "postgresql+psycopg://")
    sqlalchemy.create_engine(url).connect()
"""

INFRA_NETWORK = """\
import asyncio
import socket
import ssl

import google.auth
import google.auth.transport.requests
from google.oauth2 import service_account
from websockets.sync.client import connect

from tests.e2e.client import Client

HOST = "127.0.0.1"


def test_http_refused(http, urls):
    http.get(f"http://{HOST}:{urls['http_closed']}/api/health")


def test_http_read_timeout(http, urls):
    http.get(f"http://{HOST}:{urls['blackhole']}/api/health", timeout=0.5)


def test_http_server_disconnected(http, urls):
    http.get(f"http://{HOST}:{urls['closer']}/api/health")


def test_http_connection_reset(http, urls):
    http.get(f"http://{HOST}:{urls['reset']}/api/health")


def test_http_connect_timeout(http, urls):
    http.get(f"http://{HOST}:{urls['backlog']}/api/health", timeout=0.5)


def test_https_to_plain_server(http, urls):
    http.get(f"https://{HOST}:{urls['plain']}/api/health")


def test_http_dns_failure(http):
    http.get("http://backend.nonexistent.invalid/api/health")


def test_http_malformed_response(http, urls):
    http.get(f"http://{HOST}:{urls['garbage']}/api/health")


def test_frontdoor_no_instance(client, urls):
    client.health_at(urls["frontdoor_429"])


def test_frontdoor_not_ready(http, urls):
    Client(http, urls["frontdoor_503"]).get_json("/api/health")


def test_frontdoor_request_timeout(client, urls):
    client.health_at(urls["frontdoor_504"])


def test_frontdoor_malformed(client, urls):
    client.health_at(urls["frontdoor_malformed"])


def test_socket_refused(urls):
    socket.create_connection((HOST, urls["http_closed"]), timeout=1)


def test_socket_connect_timeout(urls):
    socket.create_connection((HOST, urls["backlog"]), timeout=0.5)


def test_tls_handshake_to_plain(urls):
    context = ssl.create_default_context()
    with socket.create_connection((HOST, urls["plain"]), timeout=2) as raw:
        context.wrap_socket(raw, server_hostname="backend.example.com")


def test_asyncio_read_timeout(urls):
    async def read():
        reader, writer = await asyncio.open_connection(HOST, urls["blackhole"])
        try:
            await asyncio.wait_for(reader.readline(), 0.5)
        finally:
            writer.close()

    asyncio.run(read())


def test_ws_refused(urls):
    connect(f"ws://{HOST}:{urls['http_closed']}/agent", open_timeout=1)


def test_ws_handshake_timeout(urls):
    connect(f"ws://{HOST}:{urls['blackhole']}/agent", open_timeout=0.5)


def test_ws_rejected_503(urls):
    connect(urls["frontdoor_503"].replace("http://", "ws://") + "/agent", open_timeout=2)


def test_ws_connection_dropped(urls, trace):
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    with connect(f"ws://{HOST}:{urls['ws']}/abort", additional_headers=headers) as ws:
        ws.recv(timeout=2)
        ws.send("hello")
        ws.recv(timeout=2)


def test_ws_agent_dependency_down(urls, trace):
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    with connect(f"ws://{HOST}:{urls['ws']}/agent", additional_headers=headers) as ws:
        ws.recv(timeout=2)
        ws.send("hello")
        ws.recv(timeout=15)


def test_ws_backend_draining(http, urls, trace):
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    with connect(urls["drain"].replace("http://", "ws://") + "/ws/stream", additional_headers=headers) as ws:
        ws.recv(timeout=2)
        http.post(urls["drain"] + "/admin/stop")
        ws.recv(timeout=5)


def test_ws_token_rejected(client, urls, trace):
    token = client.login()
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    url = urls["backend"].replace("http://", "ws://") + f"/ws/auth?token={token}"
    with connect(url, additional_headers=headers) as ws:
        ws.recv(timeout=2)


def test_jwt_signing_key_mismatch(client):
    client.me(client.login())


def test_jwt_expired_at_issue(client):
    client.me(client.login(ttl=-30), strict=True)


def test_google_refresh_invalid_grant(urls, signing_key):
    info = {
        "type": "service_account",
        "client_email": "e2e-runner@example-project.iam.gserviceaccount.com",
        "private_key": signing_key,
        "private_key_id": "0123456789abcdef",
        "token_uri": urls["token"],
    }
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(google.auth.transport.requests.Request())


def test_google_token_endpoint_down(urls, signing_key):
    info = {
        "type": "service_account",
        "client_email": "e2e-runner@example-project.iam.gserviceaccount.com",
        "private_key": signing_key,
        "private_key_id": "0123456789abcdef",
        "token_uri": f"http://{HOST}:{urls['http_closed']}/token",
    }
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(google.auth.transport.requests.Request())


def test_google_no_default_credentials():
    google.auth.default()
"""

INFRA_BACKEND = """\
def test_backend_redis_down(client):
    client.create_session()


def test_backend_redis_full(client):
    client.cache_report()


def test_backend_redis_readonly(client):
    client.count_visit()


def test_backend_redis_timeout(client):
    client.cached()


def test_backend_postgres_password(client):
    client.list_threads()


def test_backend_statement_timeout(client):
    client.search("revenue by region")


def test_backend_postgres_refused(client):
    client.users()


def test_backend_pool_exhausted(client):
    client.reports()


def test_backend_upstream_timeout(client):
    client.rates()


def test_backend_llm_rate_limited(client):
    client.ask("What was revenue in Q3?")
"""

APPLICATION_TESTS = """\
from websockets.sync.client import connect

HOST = "127.0.0.1"


def test_create_thread(client):
    thread = client.create_thread("quarterly review")
    assert thread["title"] == "quarterly review"


def test_read_thread(client):
    thread = client.get_json("/api/threads/t2")
    assert thread["id"] == "t2"


def test_list_tags(client):
    assert client.tags() == ["finance"]


def test_profile(client):
    assert client.profile().json()["name"]


def test_create_order(client):
    assert client.create_order().json() == []


def test_stats(client):
    assert client.get_json("/api/stats")["since"]


def test_admin(client, http, urls):
    token = client.login()
    response = http.get(urls["backend"] + "/api/admin", headers={"authorization": f"Bearer {token}"})
    response.raise_for_status()


def test_ratio(client):
    assert client.get_json("/api/ratio")["ratio"] > 0


def test_latest_invoice(client):
    assert client.get_json("/api/latest")["id"]


def test_invoice_lookup(client):
    assert client.get_json("/api/invoices")


def test_thread_id_contract(client):
    assert client.thread_id("t1") == "t1"


def test_thread_v2_fields(client):
    body = client.get_json("/api/v2/threads/t1")
    assert body["thread_id"] == "t1"


def test_data_subagent_answer(client):
    answer = client.answer()
    assert "revenue" in answer and "12%" in answer, answer


def test_agent_event_order(client):
    assert client.events() == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    ]


def test_export(client):
    assert client.export()["rows"]


def test_items(client):
    assert client.items() == []


def test_stream(client):
    assert client.stream()[-1] == "done"


def test_ws_handler_bug(urls, trace):
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    with connect(f"ws://{HOST}:{urls['ws']}/bug", additional_headers=headers) as ws:
        ws.recv(timeout=2)
        ws.send("hello")
        ws.recv(timeout=2)


def test_ws_chat_bug(urls, trace):
    headers = {"x-cloud-trace-context": f"{trace}/1;o=1"}
    url = urls["backend"].replace("http://", "ws://") + "/ws/chat"
    with connect(url, additional_headers=headers) as ws:
        ws.send('{"type": "user_message", "text": "hello"}')
        ws.recv(timeout=2)
"""

TEST_DEFECTS = """\
from tests.e2e.client import first_text


def test_fixture_name_error(admin_session):
    assert admin_session


def test_fixture_not_found(sesion):
    assert sesion


def test_fixture_teardown(thread):
    assert thread["title"] == "e2e thread"


def test_fixture_scope_mismatch(shared_token):
    assert shared_token


def test_fixture_recursion(user_a):
    assert user_a


def test_helper_wrong_keyword(client):
    client.create_thread(title="x", private=True)


def test_helper_missing_argument(client):
    client.post_message("t1")


def test_wrong_status_constant(http, urls):
    response = http.get(urls["backend"] + "/api/health")
    assert response.status_code == 201


def test_wrong_expected_value(client):
    assert client.health()["status"] == "healthy"


def test_wrong_path_in_helper(client):
    assert client.read_messages("t1")


def test_wrong_payload_in_helper(client):
    assert client.signup("e2e-user@example.com")["id"]


def test_attribute_typo(http, urls):
    response = http.get(urls["backend"] + "/api/health")
    assert response.jsn()["status"] == "ok"


def test_wrong_expected_type(client):
    thread = client.get_json("/api/threads/t1")
    assert thread["id"] == 1


def test_helper_unbound_local(client):
    messages = client.get_json("/api/threads/t1/messages")
    assert first_text(messages[1:]) == "hello"


def test_missing_import(client):
    assert json.dumps(client.health())


def test_zero_division(client):
    messages = client.get_json("/api/threads/t1/messages")
    empty = [m for m in messages if not m["text"]]
    assert len(empty) / len(empty) < 0.1


def test_relative_url_helper(client):
    assert client.health_relative()["status"] == "ok"
"""

COLLECTION = {
    "tests/e2e/test_collect_missing_helper.py": (
        "from tests.e2e.helpers_v2 import make_user\n\n\ndef test_user():\n    assert make_user()\n"
    ),
    "tests/e2e/test_collect_bad_name.py": (
        "from tests.e2e.client import create_thred\n\n\ndef test_t():\n    assert create_thred\n"
    ),
    "tests/e2e/test_collect_syntax.py": (
        "def test_threads(client:\n    assert client.list_threads()\n"
    ),
    "tests/e2e/test_collect_name_error.py": (
        "TIMEOUT = DEFAULT_TIMEOUT * 2\n\n\ndef test_t():\n    assert TIMEOUT\n"
    ),
    "tests/e2e/test_collect_parametrize.py": (
        "import pytest\n\n\n@pytest.mark.parametrize('user', [1, 2])\n"
        "def test_login(client):\n    assert client\n"
    ),
    "tests/e2e/test_collect_marker.py": (
        "import pytest\n\n\n@pytest.mark.p7\ndef test_t():\n    assert True\n"
    ),
    "tests/e2e/test_collect_third_party.py": (
        "import faker\n\n\ndef test_t():\n    assert faker\n"
    ),
    "tests/e2e/test_collect_attribute.py": (
        "from tests.e2e import client\n\nBASE = client.BASE_URL\n\n\ndef test_t():\n    assert BASE\n"
    ),
}

FILES = {
    "pytest.ini": INI,
    "tests/__init__.py": "",
    "tests/e2e/__init__.py": "",
    "tests/e2e/conftest.py": CONFTEST,
    "tests/e2e/client.py": CLIENT,
    "tests/e2e/test_infra_redis.py": INFRA_REDIS,
    "tests/e2e/test_infra_postgres.py": INFRA_POSTGRES,
    "tests/e2e/test_infra_network.py": INFRA_NETWORK,
    "tests/e2e/test_infra_backend.py": INFRA_BACKEND,
    "tests/e2e/test_application.py": APPLICATION_TESTS,
    "tests/e2e/test_defects.py": TEST_DEFECTS,
    **COLLECTION,
}

_I, _A, _T = INFRASTRUCTURE, APPLICATION, TEST
CASES: dict[str, Case] = {
    # Redis, called by the test itself
    "test_redis_refused": Case(_I, "Redis", "redis-py PING to a closed port"),
    "test_redis_read_timeout": Case(_I, "Redis", "redis-py PING to a server that never answers"),
    "test_redis_closed_by_server": Case(
        _I, "Redis", "redis-py PING to a server that closes the connection"
    ),
    "test_redis_full": Case(_I, "Redis", "redis-py SET on Redis at maxmemory 1mb, noeviction"),
    "test_redis_readonly_replica": Case(_I, "Redis", "redis-py SET on a read-only replica"),
    "test_redis_wrong_password": Case(_I, "Redis", "redis-py AUTH with a wrong password"),
    "test_redis_pool_exhausted": Case(
        _I, "Redis", "redis-py BlockingConnectionPool of 1 with its connection held"
    ),
    # PostgreSQL, called by the test itself
    "test_asyncpg_refused": Case(_I, "PostgreSQL", "asyncpg connect to a closed port"),
    "test_asyncpg_wrong_password": Case(_I, "PostgreSQL", "asyncpg connect with a wrong password"),
    "test_asyncpg_no_answer": Case(
        _I, "PostgreSQL", "asyncpg connect to a server that never answers"
    ),
    "test_asyncpg_missing_database": Case(
        _I, "PostgreSQL", "asyncpg connect to a database that does not exist"
    ),
    "test_asyncpg_too_many_connections": Case(
        _I, "PostgreSQL", "asyncpg second connection of a role with CONNECTION LIMIT 1"
    ),
    "test_asyncpg_terminated": Case(
        _I, "PostgreSQL", "asyncpg query on a connection killed by pg_terminate_backend"
    ),
    "test_psycopg_refused": Case(_I, "PostgreSQL", "psycopg connect to a closed port"),
    "test_psycopg_wrong_password": Case(_I, "PostgreSQL", "psycopg connect with a wrong password"),
    "test_psycopg_server_closed": Case(
        _I, "PostgreSQL", "psycopg connect to a server that closes the connection"
    ),
    "test_psycopg_connect_timeout": Case(
        _I, "PostgreSQL", "psycopg connect_timeout=1 to a server that never answers"
    ),
    "test_psycopg_terminated": Case(
        _I, "PostgreSQL", "psycopg query on a connection killed by pg_terminate_backend"
    ),
    "test_sqlalchemy_pool_timeout": Case(
        _I, "PostgreSQL", "SQLAlchemy QueuePool of 1 with its connection held"
    ),
    "test_sqlalchemy_refused": Case(_I, "PostgreSQL", "SQLAlchemy+psycopg connect, closed port"),
    # Network, TLS, DNS, the front end, WebSockets, tokens, credentials
    "test_http_refused": Case(_I, "network", "httpx GET to a closed port"),
    "test_http_read_timeout": Case(_I, "network", "httpx GET to a server that never answers"),
    "test_http_server_disconnected": Case(
        _I, "network", "httpx GET to a server that closes the connection mid-request"
    ),
    "test_http_connection_reset": Case(_I, "network", "httpx GET to a server that resets"),
    "test_http_connect_timeout": Case(
        _I, "network", "httpx GET to a server whose accept backlog is full"
    ),
    "test_https_to_plain_server": Case(_I, "TLS", "httpx HTTPS to a plain-HTTP server"),
    "test_http_dns_failure": Case(_I, "DNS", "httpx GET to a name under .invalid"),
    "test_http_malformed_response": Case(
        _I, "network", "httpx GET to a server answering a non-HTTP line"
    ),
    "test_frontdoor_no_instance": Case(
        _I, "backend", "Cloud Run front end's 429 (no available instance) via the client helper"
    ),
    "test_frontdoor_not_ready": Case(
        _I, "backend", "Cloud Run front end's 503 page (no ready revision), raise_for_status"
    ),
    "test_frontdoor_request_timeout": Case(
        _I, "backend", "Cloud Run front end's 504 upstream request timeout via the client helper"
    ),
    "test_frontdoor_malformed": Case(
        _I, "backend", "Cloud Run front end's 503 for a malformed response via the client helper"
    ),
    "test_socket_refused": Case(_I, "network", "socket.create_connection to a closed port"),
    "test_socket_connect_timeout": Case(
        _I, "network", "socket.create_connection to a full accept backlog"
    ),
    "test_tls_handshake_to_plain": Case(_I, "TLS", "ssl handshake with a plain-HTTP server"),
    "test_asyncio_read_timeout": Case(
        _I, "network", "asyncio.wait_for on a read from a server that never answers"
    ),
    "test_ws_refused": Case(_I, "WebSocket sessions", "websockets connect to a closed port"),
    "test_ws_handshake_timeout": Case(
        _I, "WebSocket sessions", "websockets connect to a server that never answers"
    ),
    "test_ws_rejected_503": Case(
        _I, "backend", "websockets connect answered by the front end's 503"
    ),
    "test_ws_connection_dropped": Case(
        _I, "WebSocket sessions", "websockets session whose server aborts the TCP connection (1006)"
    ),
    "test_ws_agent_dependency_down": Case(
        _I, "Redis", "websockets session whose handler's Redis is down (1011)"
    ),
    "test_ws_backend_draining": Case(
        _I, "backend", "uvicorn shut down under an open WebSocket (1012)"
    ),
    "test_ws_token_rejected": Case(
        _I, "auth", "WebSocket closed 1008: backend verifies with another signing key"
    ),
    "test_jwt_signing_key_mismatch": Case(
        _I, "auth", "PyJWT InvalidSignatureError: backend verifies with another signing key"
    ),
    "test_jwt_expired_at_issue": Case(
        _I, "auth", "PyJWT ExpiredSignatureError: the auth service issues expired tokens"
    ),
    "test_google_refresh_invalid_grant": Case(
        _I, "credentials", "google-auth refresh answered invalid_grant (Invalid JWT Signature)"
    ),
    "test_google_token_endpoint_down": Case(
        _I, "credentials", "google-auth refresh against a closed token endpoint"
    ),
    "test_google_no_default_credentials": Case(
        _I, "credentials", "google.auth.default() with no credentials and no metadata server"
    ),
    # Dependencies behind the backend (the test sees its status, the log the cause)
    "test_backend_redis_down": Case(_I, "Redis", "backend's Redis on a closed port"),
    "test_backend_redis_full": Case(_I, "Redis", "backend's Redis full (maxmemory, noeviction)"),
    "test_backend_redis_readonly": Case(_I, "Redis", "backend writes to a read-only replica"),
    "test_backend_redis_timeout": Case(_I, "Redis", "backend's Redis never answers"),
    "test_backend_postgres_password": Case(
        _I, "PostgreSQL", "backend's PostgreSQL password is wrong (asyncpg)"
    ),
    "test_backend_statement_timeout": Case(
        _I, "PostgreSQL", "backend's query cancelled by statement_timeout"
    ),
    "test_backend_postgres_refused": Case(
        _I, "PostgreSQL", "backend's PostgreSQL on a closed port (psycopg)"
    ),
    "test_backend_pool_exhausted": Case(_I, "PostgreSQL", "backend's SQLAlchemy pool exhausted"),
    "test_backend_upstream_timeout": Case(
        _I, "network", "backend's upstream HTTP call times out (httpx)"
    ),
    "test_backend_llm_rate_limited": Case(
        _I, "LLM provider", "backend's LLM provider answers 429 rate_limit_exceeded"
    ),
    # Application defects
    "test_create_thread": Case(_A, "backend", "handler reads a missing attribute (500)"),
    "test_read_thread": Case(_A, "backend", "handler KeyError on an unknown id (500)"),
    "test_list_tags": Case(_A, "backend", "handler GETs a Redis list: WRONGTYPE (500)"),
    "test_profile": Case(_A, "backend", "handler selects a misspelt column (asyncpg, 500)"),
    "test_create_order": Case(_A, "backend", "handler's SQL has a syntax error (psycopg, 500)"),
    "test_stats": Case(_A, "backend", "handler returns a datetime JSON cannot encode (500)"),
    "test_admin": Case(_A, "backend", "handler decodes HS256 tokens as RS256 only (500)"),
    "test_ratio": Case(_A, "backend", "handler divides by zero (500)"),
    "test_latest_invoice": Case(_A, "backend", "handler indexes an empty list (500)"),
    "test_invoice_lookup": Case(_A, "backend", "handler passes a str to an int parameter (500)"),
    "test_thread_id_contract": Case(
        _A, "backend", "2xx with a renamed JSON field: the client helper raises KeyError"
    ),
    "test_thread_v2_fields": Case(
        _A, "backend", "2xx with a renamed JSON field: the test raises KeyError"
    ),
    "test_data_subagent_answer": Case(
        _A, "data sub-agent", "200 with wrong content, no error logged"
    ),
    "test_agent_event_order": Case(_A, "agent pipeline", "200 with events out of order"),
    "test_export": Case(_A, "backend", "200 with a non-JSON body on a JSON endpoint"),
    "test_items": Case(_A, "backend", "200 with a null body: the client helper raises TypeError"),
    "test_stream": Case(_A, "backend", "streamed response whose generator raises midway"),
    "test_ws_handler_bug": Case(
        _A, "WebSocket sessions", "websockets handler raises AttributeError (1011)"
    ),
    "test_ws_chat_bug": Case(_A, "WebSocket sessions", "Starlette WebSocket handler raises (1011)"),
    # Test defects
    "test_fixture_name_error": Case(_T, "suite", "conftest fixture uses an undefined name"),
    "test_fixture_not_found": Case(_T, "suite", "test requests a misspelt fixture"),
    "test_fixture_teardown": Case(_T, "suite", "fixture teardown calls a helper that is gone"),
    "test_fixture_scope_mismatch": Case(
        _T, "suite", "session fixture requests a function-scoped fixture"
    ),
    "test_fixture_recursion": Case(_T, "suite", "two fixtures request each other"),
    "test_helper_wrong_keyword": Case(_T, "suite", "helper called with a keyword it lacks"),
    "test_helper_missing_argument": Case(_T, "suite", "helper called without an argument"),
    "test_wrong_status_constant": Case(_T, "suite", "assertion expects 201 of a correct 200"),
    "test_wrong_expected_value": Case(_T, "suite", "assertion expects a value never served"),
    "test_wrong_path_in_helper": Case(_T, "suite", "shared helper requests a wrong path (404)"),
    "test_wrong_payload_in_helper": Case(_T, "suite", "shared helper sends a misspelt field (422)"),
    "test_attribute_typo": Case(_T, "suite", "test calls a method that does not exist"),
    "test_wrong_expected_type": Case(_T, "suite", "assertion compares a str id with an int"),
    "test_helper_unbound_local": Case(_T, "suite", "helper reads a local never assigned"),
    "test_missing_import": Case(_T, "suite", "test uses a module it never imported"),
    "test_zero_division": Case(_T, "suite", "test divides by an empty count"),
    "test_relative_url_helper": Case(_T, "suite", "helper joins the base URL without a slash"),
    "tests/e2e/test_collect_missing_helper.py": Case(
        _T, "suite", "collection: imports a helper module that does not exist"
    ),
    "tests/e2e/test_collect_bad_name.py": Case(
        _T, "suite", "collection: imports a name the helper module lacks"
    ),
    "tests/e2e/test_collect_syntax.py": Case(_T, "suite", "collection: a syntax error"),
    "tests/e2e/test_collect_name_error.py": Case(
        _T, "suite", "collection: a module constant uses an undefined name"
    ),
    "tests/e2e/test_collect_parametrize.py": Case(
        _T, "suite", "collection: parametrize names an argument the test lacks"
    ),
    "tests/e2e/test_collect_marker.py": Case(
        _T, "suite", "collection: an unregistered marker under --strict-markers"
    ),
    "tests/e2e/test_collect_third_party.py": Case(
        _T, "suite", "collection: imports a test dependency that is not installed"
    ),
    "tests/e2e/test_collect_attribute.py": Case(
        _T, "suite", "collection: reads an attribute the helper module lacks"
    ),
}
