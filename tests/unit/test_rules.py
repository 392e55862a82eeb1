"""The rule table: built-ins that read the real messages of the libraries and services the
platform meets, and ``[tool.ci_tools.rules]`` extending and overriding them, with one-line
errors for a bad rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools import config as cfg
from ci_tools import rules
from ci_tools._exceptions import ConfigError
from ci_tools.rules import (
    APPLICATION,
    FAILURE_CLASSES,
    INFRASTRUCTURE,
    RULES,
    TEST,
    FailFast,
    RuleSpec,
    match,
    table,
)

# Real texts, as the plugin records them ("Type: message"); the source of each wording is
# beside its rule in ci_tools/builtin_rules.py.
REAL: list[tuple[str, str | None, str | None]] = [
    # Secrets and credentials of the deployed revision.
    ("KeyError: 'JWT_SECRET'", INFRASTRUCTURE, "Secret or env var JWT_SECRET missing"),
    (
        'File "/app/auth/settings.py", line 12, in load\n'
        '    secret = os.environ["SIGNING_KEY"]\n'
        "KeyError: 'SIGNING_KEY'",
        INFRASTRUCTURE,
        "Secret or env var SIGNING_KEY missing",
    ),
    (
        "ValidationError: 1 validation error for Settings\njwt_secret\n  Field required "
        "[type=missing, input_value={}, input_type=dict]",
        INFRASTRUCTURE,
        "Secret or env var jwt_secret missing",
    ),
    (
        "google.auth.exceptions.DefaultCredentialsError: Your default credentials were not "
        "found. To set up Application Default Credentials, see https://cloud.google.com/docs/"
        "authentication/external/set-up-adc for more information.",
        INFRASTRUCTURE,
        "Google credentials missing or rejected (service account / ADC)",
    ),
    (
        "RefreshError: ('invalid_grant: Invalid JWT Signature.', {'error': 'invalid_grant'})",
        INFRASTRUCTURE,
        "Google credentials missing or rejected (service account / ADC)",
    ),
    (
        "AssertionError: me: HTTP 401 token rejected: InvalidSignatureError: Signature "
        "verification failed",
        INFRASTRUCTURE,
        "Token signature rejected (signing secret differs between services)",
    ),
    (
        "AssertionError: me: HTTP 401 token rejected: ExpiredSignatureError: Signature has expired",
        INFRASTRUCTURE,
        "Tokens rejected as expired (token lifetime or clock)",
    ),
    (
        "AssertionError: me: HTTP 401 token rejected: DecodeError: Not enough segments",
        TEST,
        "Test sent a malformed token",
    ),
    (  # the same error escaping the code: a 500 where a 401 was due
        "jwt.exceptions.ExpiredSignatureError: Signature has expired",
        APPLICATION,
        "Token error not handled by the code (a 500, not a 401)",
    ),
    # Redis.
    (
        "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection "
        "refused.",
        INFRASTRUCTURE,
        "Redis unreachable (connection refused)",
    ),
    (
        "redis.exceptions.ResponseError: OOM command not allowed when used memory > 'maxmemory'.",
        INFRASTRUCTURE,
        "Redis full (maxmemory or maxclients reached)",
    ),
    (
        "redis.exceptions.TimeoutError: Timeout reading from socket",
        INFRASTRUCTURE,
        "Redis times out",
    ),
    # PostgreSQL, Cloud SQL and the pool in front of them.
    (
        "asyncpg.exceptions.ConnectionDoesNotExistError: connection was closed in the middle "
        "of operation",
        INFRASTRUCTURE,
        "Database unreachable",
    ),
    (
        "psycopg2.OperationalError: server closed the connection unexpectedly\n\tThis probably "
        "means the server terminated abnormally",
        INFRASTRUCTURE,
        "Database unreachable",
    ),
    (
        'psycopg.OperationalError: connection failed: connection to server at "10.0.0.3", port '
        "5432 failed: Connection refused",
        INFRASTRUCTURE,
        "Database unreachable",
    ),
    (
        "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already",
        INFRASTRUCTURE,
        "PostgreSQL full (connections or disk)",
    ),
    (
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection "
        "timed out, timeout 30.00",
        INFRASTRUCTURE,
        "Database connection pool exhausted",
    ),
    (
        "RuntimeError: ['proj:us-central1:db']: An error occurred while performing refresh. "
        "Scheduling another refresh attempt immediately",
        INFRASTRUCTURE,
        "Cloud SQL unreachable through its connector",
    ),
    # The LLM provider.
    (
        "openai.RateLimitError: Error code: 429 - {'error': {'message': 'Rate limit reached for "
        "gpt-4o', 'type': 'tokens', 'code': 'rate_limit_exceeded'}}",
        INFRASTRUCTURE,
        "LLM provider rate limit or quota exhausted",
    ),
    (
        "google.api_core.exceptions.ResourceExhausted: 429 Resource has been exhausted (e.g. "
        "check quota).",
        INFRASTRUCTURE,
        "LLM provider rate limit or quota exhausted",
    ),
    (
        "anthropic.InternalServerError: Error code: 529 - {'type': 'error', 'error': {'type': "
        "'overloaded_error', 'message': 'Overloaded'}}",
        INFRASTRUCTURE,
        "LLM provider rate limit or quota exhausted",
    ),
    # Cloud Run's front end.
    (
        "Memory limit of 512 MiB exceeded with 516 MiB used. Consider increasing the memory "
        "limit, see https://cloud.google.com/run/docs/configuring/memory-limits",
        INFRASTRUCTURE,
        "Service out of memory (Cloud Run memory limit)",
    ),
    (
        "AssertionError: HTTP 429: Rate exceeded.",
        INFRASTRUCTURE,
        "Cloud Run out of instances (429 rate exceeded)",
    ),
    (
        "AssertionError: HTTP 503: The request failed because either the HTTP response was "
        "malformed or connection to the instance had an error.",
        INFRASTRUCTURE,
        "Cloud Run lost the connection to the instance (malformed response)",
    ),
    (
        "openai.OpenAIError: The api_key client option must be set either by passing api_key "
        "to the client or by setting the OPENAI_API_KEY environment variable",
        INFRASTRUCTURE,
        "Secret or env var OPENAI_API_KEY missing",
    ),
    (
        'asyncpg.exceptions.InvalidCatalogNameError: database "app_production" does not exist',
        INFRASTRUCTURE,
        "Database named in the revision's configuration does not exist",
    ),
    (
        "httpx.InvalidURL: Invalid port: '8080api'",
        TEST,
        "Test built an invalid URL",
    ),
    # Connections and WebSockets.
    (
        "NameError: name 'DEFAULT_TIMEOUT' is not defined",
        None,
        None,
    ),
    (
        "httpx.RemoteProtocolError: peer closed connection without sending complete message "
        "body (incomplete chunked read)",
        APPLICATION,
        "Response cut off mid-body (the handler failed while streaming)",
    ),
    (
        "websockets.exceptions.ConnectionClosedError: no close frame received or sent "
        "Exception in ASGI application",
        APPLICATION,
        "Request handler raised (server code)",
    ),
    (
        "httpx.RemoteProtocolError: Server disconnected without sending a response.",
        INFRASTRUCTURE,
        "Connections dropped (reset or disconnected)",
    ),
    (
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        INFRASTRUCTURE,
        "Connections dropped (reset or disconnected)",
    ),
    (
        "websockets.exceptions.ConnectionClosedError: received 1011 (internal error); then sent "
        "1011 (internal error)",
        APPLICATION,
        "WebSocket closed by a server error (1011)",
    ),
    (
        "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) session "
        "store unavailable; then sent 1011 (internal error) session store unavailable",
        INFRASTRUCTURE,
        "WebSocket sessions dropped (1011)",
    ),
    (
        "websockets.exceptions.ConnectionClosedError: no close frame received or sent",
        INFRASTRUCTURE,
        "WebSocket connections cut (1006, no close frame)",
    ),
]


@pytest.mark.parametrize(("text", "failure_class", "title"), REAL)
def test_the_built_ins_read_real_wording(
    text: str, failure_class: str | None, title: str | None
) -> None:
    """Each real message is put under its cause: dependencies and the revision's secrets are
    infrastructure with the part named, a handler's crash (in the service's own log) is
    application, a malformed token or URL the test built is test; a name that merely contains a word
    (DEFAULT_TIMEOUT) names nothing."""
    found = match(text)
    got = (found.rule.failure_class, found.title) if found else (None, None)
    assert got == (failure_class, title)


def test_a_drivers_name_in_a_traceback_does_not_blame_the_database() -> None:
    """A code bug whose traceback runs through asyncpg is not a database outage."""
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/site-packages/asyncpg/connection.py", line 1, in execute\n'
        "asyncpg.exceptions.UniqueViolationError: duplicate key value violates unique "
        'constraint "users_email_key"'
    )
    found = match(traceback)
    assert found is not None
    assert found.rule.failure_class == APPLICATION
    assert not found.rule.part


def test_a_lower_case_key_error_is_no_secret() -> None:
    """``KeyError: 'title'`` is a bug in the code, not a secret the deploy lacks."""
    assert match("KeyError: 'title'") is None


def test_every_built_in_compiles_with_a_known_class_and_a_unique_name() -> None:
    """The table is valid data: every pattern compiles, matches no empty text, and names a
    class of the vocabulary; no two rules share a name."""
    assert len({rule.name for rule in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.failure_class in FAILURE_CLASSES, rule.name
        assert rule.pattern.search("") is None, rule.name


def test_importing_the_rules_compiles_no_pattern() -> None:
    """The plugin loads the rules as every fail-fast phase starts: a pattern is compiled at
    its first use."""
    code = "import ci_tools.rules as r; print(sum('pattern' in x.__dict__ for x in r.RULES))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_a_configured_rule_replaces_the_built_in_of_its_name_in_place() -> None:
    """Only the fields given change, and the rule keeps its position."""
    names = [rule.name for rule in RULES]
    rows = table([RuleSpec("timeout", failfast=True, title="Slow")])
    assert [rule.name for rule in rows] == names
    changed = rows[names.index("timeout")]
    original = RULES[names.index("timeout")]
    assert (changed.failfast, changed.title) == (True, "Slow")
    assert (changed.source, changed.failure_class) == (original.source, original.failure_class)


def test_new_rules_go_first_or_before_the_rule_named_and_disable_removes() -> None:
    """New rules lead in the order given; ``before`` places one; ``disable`` drops built-ins."""
    rows = table(
        [
            RuleSpec("first", pattern="aaa", failure_class="test"),
            RuleSpec("placed", pattern="bbb", failure_class="application", before="refused"),
            RuleSpec("second", pattern="ccc", failure_class="infrastructure"),
        ],
        disable=["dns"],
    )
    names = [rule.name for rule in rows]
    assert names[:2] == ["first", "second"]
    assert names.index("placed") == names.index("refused") - 1
    assert "dns" not in names
    assert len(rows) == len(RULES) + 2


def _config(tmp_path: Path, text: str, rules_file: str | None = None) -> cfg.Config:
    """The configuration a temporary project's pyproject.toml gives, through the loader."""
    (tmp_path / "pyproject.toml").write_text(text)
    if rules_file is not None:
        (tmp_path / "ci").mkdir(exist_ok=True)
        (tmp_path / "ci" / "rules.toml").write_text(rules_file)
    return cfg.load(tmp_path / "pyproject.toml")


BILLING = """
[tool.ci_tools.criteria.billing_ms]
title = "Billing latency"
[[tool.ci_tools.rules.rule]]
name = "billing_down"
pattern = "HTTP 402 .*billing provider (?P<name>\\\\w+) unreachable"
class = "infrastructure"
title = "Billing provider {name} unreachable"
part = "billing provider"
areas = ["billing"]
failfast = true
criteria = ["billing_ms"]
"""
PAYMENT = "AssertionError: HTTP 402 from /pay: billing provider stripe unreachable"


def test_a_rule_added_in_pyproject_changes_a_classification(tmp_path: Path) -> None:
    """Without the project's rule a 402 is a broken contract of the code; with it, the
    billing provider is down, named from the evidence."""
    before = match(PAYMENT)
    assert before is not None
    assert before.rule.failure_class == APPLICATION
    after = match(PAYMENT, _config(tmp_path, BILLING).rules_table)
    assert after is not None
    assert (after.rule.failure_class, after.title) == (
        INFRASTRUCTURE,
        "Billing provider stripe unreachable",
    )
    assert after.rule.criteria == ("billing_ms",)


def test_a_project_without_rules_of_its_own_classifies_by_the_built_in_table(
    tmp_path: Path,
) -> None:
    """Not a copy of it, and not after a copy of the configuration: the matcher remembers
    its prefilter and its matches per table, and the criteria's inference reads the
    built-in table, so a copy made the report match every failure twice."""
    config = _config(tmp_path, "[tool.ci_tools]\n")
    assert config.rules_table is rules.RULES
    assert config.model_copy().rules_table is rules.RULES
    assert _config(tmp_path, BILLING).rules_table is not rules.RULES


def test_failfast_trips_on_a_configured_rule(tmp_path: Path) -> None:
    """The second failure of a configured fail-fast rule stops the tests of its areas."""
    failfast = FailFast(after=2, rules=_config(tmp_path, BILLING).rules_table)
    assert failfast.observe(PAYMENT, "first") is None
    trip = failfast.observe(PAYMENT, "second")
    assert trip is not None
    assert (trip.rule, trip.areas, trip.failures) == ("billing_down", ("billing",), 2)
    assert trip.stops(("billing",))
    assert not trip.stops(("auth",))


def test_a_rules_file_extends_the_table(tmp_path: Path) -> None:
    """``file`` names a TOML file of more rules and disables, read with pyproject's."""
    config = _config(
        tmp_path,
        '[tool.ci_tools.rules]\nfile = "ci/rules.toml"\n',
        'disable = ["tls"]\n[[rule]]\nname = "flake"\npattern = "FlakyFixture"\nclass = "test"\n',
    )
    names = [rule.name for rule in config.rules_table]
    assert names[0] == "flake"
    assert "tls" not in names


RULE = '[[tool.ci_tools.rules.rule]]\nname = "stripe_down"\n'


@pytest.mark.parametrize(
    ("text", "rules_file", "expected"),
    [
        (
            RULE + 'pattern = "stripe(down"\nclass = "infrastructure"\n',
            None,
            "rule 'stripe_down': pattern 'stripe(down' does not compile (missing ), "
            "unterminated subpattern at position 6)",
        ),
        (
            RULE + 'pattern = "stripe"\nclass = "infra"\n',
            None,
            "rules.rule.0 (stripe_down).class: Input should be 'infrastructure', 'application' "
            "or 'test'",
        ),
        (
            RULE + 'pattern = "stripe"\nclass = "test"\ncriteria = ["stripe_ms"]\n',
            None,
            "rule 'stripe_down': unknown criterion 'stripe_ms'",
        ),
        (
            RULE + 'pattern = "stripe"\nclass = "test"\nbefore = "refusd"\n',
            None,
            "before = 'refusd' names no rule of the table (did you mean 'refused'?)",
        ),
        (
            RULE + 'pattern = "x?"\nclass = "test"\n',
            None,
            "pattern 'x?' matches an empty text",
        ),
        (
            RULE + 'pattern = "stripe"\nclass = "test"\ntitle = "Stripe {part}"\n',
            None,
            "title 'Stripe {part}' fills part; only {name}",
        ),
        ("[tool.ci_tools.rules]\ndisable = ['dsn']\n", None, "'dsn' is no built-in rule"),
        (
            '[tool.ci_tools.rules]\nfile = "ci/missing.toml"\n',
            None,
            "rules.file: ",
        ),
        ('[tool.ci_tools.rules]\nfile = "ci/rules.toml"\n', "[[rule]\nname =", "is not valid TOML"),
        (
            '[tool.ci_tools.rules]\nfile = "ci/rules.toml"\n',
            '[[rule]]\nname = "x"\npattern = "x"\nclas = "test"\n',
            "rule.0 (x).clas: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_rule_is_one_line_naming_the_rule_and_the_fix(
    tmp_path: Path, text: str, rules_file: str | None, expected: str
) -> None:
    """A regex that does not compile (and where), an unknown class or criterion, a ``before``
    naming no rule, a pattern that takes every failure, a rules file missing or not TOML."""
    with pytest.raises(ConfigError) as raised:
        _config(tmp_path, text, rules_file)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    if "does not exist" in message:
        assert "missing.toml" in message


@pytest.mark.parametrize(
    ("source", "widened"),
    [
        (r"(?<![.\w])Foo\b(?!Bar)", r"Foo\b"),
        (r"a(?=b(c)[)])d$", "ad"),
        (r"price \$5[$)]\(x\)", r"price \$5[$)]\(x\)"),
        (r"[]$](?s:x)", r"[]$](?s:x)"),
        (r"[^]$]a$", r"[^]$]a"),
        (r"(a)\1", None),
        (r"(?(1)a|b)", None),
    ],
)
def test_a_pattern_is_widened_to_what_re2_reads_by_dropping_what_only_narrows_it(
    source: str, widened: str | None
) -> None:
    """Lookarounds and unescaped ``$`` outside a class are dropped (each only narrows where a
    pattern matches); escapes and classes are kept; a backreference or a conditional has no
    widened form."""
    assert rules._widened(source) == widened


def test_every_built_in_rule_is_prefiltered_by_re2() -> None:
    """No built-in pattern is searched by ``re`` against every text: RE2 reads each one, or its
    widened form (a report of 2,000 failures spent most of its time on the four with
    lookarounds before)."""
    prefilter = rules._Prefilter(rules.RULES)
    assert prefilter.set is not None
    assert not [rules.RULES[i].name for i in prefilter.always]
