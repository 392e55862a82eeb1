"""The built-in rules, as data: one row per cause a failure's text can name (see
``ci_tools.rules`` for what each field means and how a project extends the table).

Each dependency row anchors on the exception type or the message its library or service
really raises, with the public source of that wording beside it; a library's bare name is
never evidence (it is in every traceback through the driver). The class of each row says what
the failure means for a deploy: a dependency unreachable, slow, full or rate-limited, or a
secret or setting the revision lacks, is infrastructure with its part named; wrong code is
application; a defect of the suite (its own token, its own process) is test.

Data only, no imports of ``ci_tools``: the plugin loads the rules in every pytest run, and
``ci_tools.rules`` checks every row's class as it loads them.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

from typing import TypedDict

# The words of ci_tools.rules.FailureClass (the vocabulary is defined there).
INFRASTRUCTURE = "infrastructure"
APPLICATION = "application"
TEST = "test"
EVERY_AREA = "*"


class Row(TypedDict):
    """One built-in rule, field by field as ``ci_tools.rules.Rule`` has them."""

    name: str
    failure_class: str
    title: str
    pattern: str
    part: str
    areas: tuple[str, ...]
    failfast: bool
    criteria: tuple[str, ...]
    pressure: bool


def _rule(  # noqa: PLR0917 - one row of the table, read left to right
    name: str,
    failure_class: str,
    title: str,
    pattern: str,
    part: str = "",
    areas: tuple[str, ...] = (),
    *,
    failfast: bool = False,
    criteria: tuple[str, ...] = (),
    pressure: bool = False,
) -> Row:
    return Row(
        name=name,
        failure_class=failure_class,
        title=title,
        pattern=pattern,
        part=part,
        areas=areas,
        failfast=failfast,
        criteria=criteria,
        pressure=pressure,
    )


# The agent pipeline's sub-agents: the supervisor routes each request to some of them, and
# a test that needs one declares its area, "agent.<name>" (next to "agent"). A failure names
# the sub-agent it happened in ("data sub-agent stalled", "data sub-agent failed in ..."), so
# one broken sub-agent is diagnosed as that part, and only its own waiting tests are stopped.
SUBAGENTS = ("triage", "data", "optimization", "reporting", "general")


def subagent_area(name: str) -> str:
    """The test area of one sub-agent."""
    return f"agent.{name}"


def _subagent_rules(name: str) -> tuple[Row, ...]:
    part, areas, title = f"{name} sub-agent", (subagent_area(name),), name.capitalize()
    return (
        _rule(
            f"subagent_hang_{name}",
            INFRASTRUCTURE,
            f"{title} sub-agent hangs",
            rf"\b{name} sub-agent stalled\b",
            part,
            areas,
            failfast=True,
        ),
        # Its tools cannot reach what they read: the sub-agent's dependency, not its code.
        _rule(
            f"subagent_down_{name}",
            INFRASTRUCTURE,
            f"{title} sub-agent fails (its source is unavailable)",
            rf"\b{name} sub-agent failed\b.*\b(?:unavailable|unreachable|refused|timed out)\b",
            part,
            areas,
            failfast=True,
        ),
        # Any other error of its own (a bug in one of its tools): not a reason to stop the
        # rest of its tests, which may take other paths.
        _rule(
            f"subagent_error_{name}",
            APPLICATION,
            f"{title} sub-agent fails",
            rf"\b{name} sub-agent failed\b",
            part,
            areas,
        ),
    )


# An environment variable's name as programs spell it; case-sensitive although the rules
# ignore case: KeyError: 'title' is a bug, KeyError: 'JWT_SECRET' a secret the revision lacks.
_ENV = r"(?-i:[A-Z][A-Z0-9_]{2,})"

# Most specific first: the first rule whose pattern matches names the cause. Each dependency
# rule comes before the symptoms it causes (a 500, a timeout, a dropped connection). A rule
# names criteria only when its failure means the measured part could not answer at all
# (ci_tools.phases.inferred counts such a failure as "unreachable"): a full Redis or an
# exhausted pool still answers, so they name none.
ROWS: tuple[Row, ...] = (
    _rule(
        "test_password",
        TEST,
        "Test users' password not set (CI_TOOLS_E2E_PASSWORD)",
        r"no password for the test users|CI_TOOLS_E2E_PASSWORD",
    ),
    # The test's own process died (os._exit, a segfault, the OOM killer): the harness broke,
    # whatever the deploy did; the plugin records it as WorkerCrashed, never as a hang.
    _rule("worker_crashed", TEST, "Test process crashed", r"^WorkerCrashed:"),
    # The backend was stopped under the run (a restart, a scale-in, a deploy's traffic shift):
    # it drained, refusing new runs and failing those past its grace, with close code 1012
    # (service restart) or 1001 (going away: Cloud Run stopping the instance).
    _rule(
        "backend_draining",
        INFRASTRUCTURE,
        "Backend shut down during the run (draining)",
        r"server is shutting down|server_shutting_down|received 10(?:12|01)\b",
        "backend",
        ("agent", "websocket"),
    ),
    # The service crashed at import: its image lacks a module (a dependency left out of the
    # build). Real wording: "ModuleNotFoundError: No module named 'x'".
    _rule(
        "module_missing",
        INFRASTRUCTURE,
        "Module '{name}' missing at import",
        r"(?:ModuleNotFoundError|No module named)\W+(?:No module named\W+)?'?(?P<name>[\w.]+)",
        "backend image",
        (EVERY_AREA,),
    ),
    # A secret the deployed revision lacks. Real libraries do not say "X is not set" (the
    # reference platform does): os.environ["X"] raises KeyError: 'X' (the frame's own line
    # shows os.environ['X']); pydantic-settings raises "1 validation error for Settings /
    # jwt_secret / Field required [type=missing" (docs.pydantic.dev/latest/concepts/
    # pydantic_settings); django-environ "Set the DATABASE_URL environment variable"; openai
    # "The api_key client option must be set ... by setting the OPENAI_API_KEY environment
    # variable"; many apps raise "environment variable X is required / must be set".
    _rule(
        "secret_missing",
        INFRASTRUCTURE,
        "Secret or env var {name} missing",
        rf"\b(?P<name>{_ENV}) is not set|missing (?:env|secret|environment variable) "
        rf"'?(?P<name2>\w+)|KeyError: ['\"](?P<name3>{_ENV})['\"]|"
        rf"(?:os\.environ|getenv)\[['\"](?P<name4>{_ENV})['\"]\](?s:(?=.*\bKeyError\b))|"
        rf"environment variable ['\"]?(?P<name5>{_ENV})['\"]? (?:is )?(?:not set|missing|"
        rf"required|undefined)|\b(?P<name6>{_ENV}) (?:environment variable )?(?:must be set|"
        r"is required|is missing)|validation errors? for \w*Settings\W+(?P<name7>\w+)\W+"
        rf"Field required|(?:Set|setting) the (?P<name8>{_ENV}) environment variable",
        "secrets",
        ("auth", "websocket", "agent", "threads"),
    ),
    # The revision's framework refuses its configuration: Django's "ImproperlyConfigured: The
    # SECRET_KEY setting must not be empty." (django/core/exceptions.py).
    _rule(
        "config_invalid",
        INFRASTRUCTURE,
        "Service configuration invalid (ImproperlyConfigured)",
        r"ImproperlyConfigured",
        "config",
    ),
    # google-auth: the revision's service account or ADC is not configured (DefaultCredentials
    # Error: "Could not automatically determine credentials. Please set GOOGLE_APPLICATION_
    # CREDENTIALS ..." before google-auth 2.x, "Your default credentials were not found"
    # after; "File /x.json was not found."), or its key was revoked or disabled (RefreshError:
    # "invalid_grant: Invalid JWT Signature.", "Reauthentication is needed"). Sources:
    # googleapis/google-auth-library-python google/auth/_default.py, exceptions.py; issues
    # quoting them e.g. langchain-ai/langchain#22241 threads, gemini-cli#14811.
    _rule(
        "credentials",
        INFRASTRUCTURE,
        "Google credentials missing or rejected (service account / ADC)",
        r"DefaultCredentialsError|RefreshError|Could not automatically determine credentials|"
        r"default credentials were not found|google\.auth\.exceptions\.\w+|"
        r"Reauthentication is needed",
        "credentials",
    ),
    # A PyJWT error that escaped the code: a traceback's last line names it with its module
    # ("jwt.exceptions.ExpiredSignatureError: Signature has expired" behind a 500,
    # jalantechnologies/flask-react-template#43). A service must answer a bad or expired
    # token with a 401; letting PyJWT's exception through is the code's defect, whatever the
    # token. A service that handled it logs the bare class name, read by the rules below.
    _rule(
        "jwt_unhandled",
        APPLICATION,
        "Token error not handled by the code (a 500, not a 401)",
        r"jwt\.exceptions\.\w+Error\b",
    ),
    # PyJWT verifying a token signed by the deployed auth service: the services disagree on
    # the signing key (a secret of the revision), not the test, which only passes the token
    # on. "InvalidSignatureError: Signature verification failed" (jpadilla/pyjwt jwt/api_jws.py).
    _rule(
        "jwt_signature",
        INFRASTRUCTURE,
        "Token signature rejected (signing secret differs between services)",
        r"(?<![.\w])(?:InvalidSignatureError|InvalidKeyError)\b|Signature verification failed",
        "secrets",
        ("auth",),
    ),
    # PyJWT's claims checks: an audience or issuer the verifier does not expect is the
    # revision's configuration; "not yet valid" a clock skew between services. Wording from
    # jpadilla/pyjwt jwt/api_jwt.py ("Invalid audience", "Audience doesn't match", "Invalid
    # issuer", "The token is not yet valid (iat)/(nbf)", 'Token is missing the "exp" claim').
    # Not InvalidAlgorithmError ("The specified alg value is not allowed"): the algorithms a
    # verifier accepts are written in its code, so a mismatch is the code's.
    _rule(
        "jwt_claims",
        INFRASTRUCTURE,
        "Token claims rejected (audience, issuer or clock: configuration)",
        r"InvalidAudienceError|InvalidIssuerError|ImmatureSignatureError|Invalid audience|"
        r"Audience doesn't match|Invalid issuer|token is not yet valid|MissingRequiredClaimError|"
        r"Token is missing the \"\w+\" claim",
        "config",
        ("auth",),
    ),
    # PyJWT, a token past its exp: "ExpiredSignatureError: Signature has expired"
    # (jpadilla/pyjwt jwt/api_jwt.py). The suite logs in through the deployed auth service
    # and uses the token within seconds, so a service rejecting it as expired says the
    # revision's token lifetime or clock is wrong: infrastructure (config). A suite that
    # holds a token past its lifetime reads the same, but fails on every deploy (history
    # shows it known, not new), and the classifier's evidence (raised in the test's own
    # frame) decides for the test there; the text alone cannot tell the two apart.
    _rule(
        "token_expired",
        INFRASTRUCTURE,
        "Tokens rejected as expired (token lifetime or clock)",
        r"(?<![.\w])ExpiredSignatureError\b|Signature has expired",
        "config",
        ("auth",),
    ),
    # PyJWT cannot even parse the token the service was sent, and the service said so (a
    # 401): what the test sent is not a JWT (an empty or truncated header, a wrong
    # variable). "DecodeError: Not enough segments", "Invalid header padding", "Invalid token
    # type" (jpadilla/pyjwt jwt/api_jws.py).
    _rule(
        "token_malformed",
        TEST,
        "Test sent a malformed token",
        r"\bDecodeError: (?:Not enough segments|Invalid (?:header|payload|crypto) (?:padding|"
        r"string)|Invalid token type)",
    ),
    # The URL the suite built is not a URL: httpx "UnsupportedProtocol: Request URL is missing
    # an 'http://' or 'https://' protocol.", "InvalidURL: Invalid port: '8080api'"; requests
    # "MissingSchema: Invalid URL 'x': No scheme supplied"; websockets "InvalidURI". The
    # platform never sees such a request: the suite (its helper or its environment's URLs).
    _rule(
        "client_url",
        TEST,
        "Test built an invalid URL",
        r"UnsupportedProtocol|Request URL is missing an|InvalidURL|Invalid port: |"
        r"MissingSchema|No scheme supplied|InvalidSchema|InvalidURI",
    ),
    # Cloud SQL's connector and Auth Proxy: the instance cannot be reached through them
    # (Admin API disabled, IAM role missing, wrong connection name, no socket under
    # /cloudsql). "['p:r:i']: An error occurred while performing refresh. Scheduling another
    # refresh attempt immediately" (GoogleCloudPlatform/cloud-sql-python-connector#570);
    # CloudSQLIPTypeError, RefreshNotValidError (its exceptions.py); "Cloud SQL connection
    # failed" and 'connection to server on socket "/cloudsql/p:r:i/.s.PGSQL.5432" failed: No
    # such file or directory' (GoogleCloudPlatform/python-docs-samples#870, #7870); the
    # proxy's 'couldn't connect to "p:r:i"', "failed to connect to instance: ... failed to get
    # instance metadata"; Cloud Run's "Cloud SQL instance /cloudsql/p:r:i is not reachable.
    # Deploy a new revision adding the Cloud SQL connection" (typeorm/typeorm#9580); "Cloud SQL
    # MySQL: Automatic IAM authentication via the auth-proxy requires an IAM-authenticated
    # user" (googleapis/langchain-google-cloud-sql-mysql-python#75).
    _rule(
        "cloud_sql",
        INFRASTRUCTURE,
        "Cloud SQL unreachable through its connector",
        r"An error occurred while performing refresh|google\.cloud\.sql\.connector\.\w+|"
        r"CloudSQLIPTypeError|RefreshNotValidError|Cloud SQL connection failed|"
        r"Cloud SQL Admin API|/cloudsql/[\w:.-]+(?:/\.s\.PGSQL\.\d+)?\W{0,3}(?:failed: )?"
        r"(?:No such file or directory|connect: no such file)|couldn't connect to "
        r'"[\w-]+:[\w-]+:[\w-]+"|failed to connect to instance|Cloud SQL instance \S+ is not '
        r"reachable|failed to get instance metadata|ConnectorLoopError|Automatic IAM "
        r"authentication via the auth-proxy",
        "Cloud SQL",
        ("database",),
        failfast=True,
        criteria=("database_latency_ms",),
    ),
    # Redis refuses the password the revision was given: its secret, not Redis being down.
    # redis-py: "AuthenticationError: invalid username-password pair or user is disabled.",
    # "Authentication required." (NOAUTH), "WRONGPASS" (redis/redis-py redis/exceptions.py,
    # _parsers/base.py).
    _rule(
        "redis_auth",
        INFRASTRUCTURE,
        "Redis rejects the revision's credentials (secret)",
        r"invalid username-password pair|NOAUTH Authentication required|WRONGPASS|"
        r"Client sent AUTH, but no password is set|redis\.exceptions\.AuthenticationError|"
        r"AuthenticationError: Authentication required",
        "secrets",
        ("redis",),
        failfast=True,
    ),
    # A full Redis refuses writes: "redis.exceptions.ResponseError: OOM command not allowed
    # when used memory > 'maxmemory'." (redis/redis-py#817, redis/redis#2746), in today's
    # redis-py "OutOfMemoryError: command not allowed when used memory > 'maxmemory'." (the
    # OOM prefix becomes the type: redis/_parsers/base.py); its clients full: "ERR max number
    # of clients reached", redis-py's pool MaxConnectionsError.
    _rule(
        "redis_full",
        INFRASTRUCTURE,
        "Redis full (maxmemory or maxclients reached)",
        r"OOM command not allowed when used memory|used memory > 'maxmemory'|"
        r"max number of clients reached|MaxConnectionsError",
        "Redis",
        ("redis",),
        failfast=True,
    ),
    # Redis up but not serving: loading its dataset, a read-only replica after a failover, a
    # cluster down. redis-py's BusyLoadingError "Redis is loading the dataset in memory",
    # ReadOnlyError "You can't write against a read only replica." (redis/exceptions.py).
    _rule(
        "redis_unavailable",
        INFRASTRUCTURE,
        "Redis not serving (loading, read-only replica or cluster down)",
        r"BusyLoadingError|Redis is loading the dataset|ReadOnlyError|write against a read "
        r"only replica|MASTERDOWN|CLUSTERDOWN|ClusterDownError|MISCONF Redis is configured",
        "Redis",
        ("redis",),
        failfast=True,
        criteria=("redis_latency_ms",),
    ),
    # redis-py's own timeouts: "Timeout reading from socket", "Timeout connecting to server"
    # (redis/_parsers/socket.py, connection.py), and the platform's "redis is slow".
    _rule(
        "redis_timeout",
        INFRASTRUCTURE,
        "Redis times out",
        r"\bredis\w* (?:is )?slow|\bredis\b[^/\n]{0,40}(?:no answer within|timed? ?out)|"
        r"redis\.exceptions\.TimeoutError|Timeout (?:reading from|writing to|connecting to) "
        r"(?:socket|server)",
        "Redis",
        ("redis",),
        failfast=True,
        criteria=("redis_latency_ms",),
    ),
    # redis-py: "Error 111 connecting to localhost:6379. Connection refused." (connection.py
    # _error_message, any errno: -2 a name, 110 a timeout), "Error while reading from socket:
    # (104, 'Connection reset by peer')", "Connection closed by server."
    # (SERVER_CLOSED_CONNECTION_ERROR), redis.asyncio's "Connect call failed ('127.0.0.1',
    # 6379)".
    _rule(
        "redis_down",
        INFRASTRUCTURE,
        "Redis unreachable (connection refused)",
        r"\bredis\w* is down|\bredis\b[^/\n]{0,40}\b(?:refused|unreachable|unavailable)\b|"
        r"Error -?\d+ (?:while )?connecting to [\w.-]+:\d+|Error while (?:reading from|writing "
        r"to) (?:socket|[\w.-]+:\d+)|redis\.exceptions\."
        r"ConnectionError|Connection closed by server\.|ConnectionError.*:63\d\d|"
        r"Connect call failed \([^)]*, 63\d\d\)",
        "Redis",
        ("redis",),
        failfast=True,
        criteria=("redis_latency_ms",),
    ),
    # PostgreSQL refuses the revision's password or role: a secret, not an outage.
    # 'FATAL:  password authentication failed for user "app"' (libpq), asyncpg's
    # InvalidPasswordError, 'no pg_hba.conf entry for host'; MySQL's (1045) "Access denied for
    # user 'app'@'10.0.0.3' (using password: YES)".
    _rule(
        "database_auth",
        INFRASTRUCTURE,
        "PostgreSQL rejects the revision's credentials (secret)",
        r"password authentication failed for user|InvalidPasswordError|"
        r"InvalidAuthorizationSpecificationError|no pg_hba\.conf entry|Access denied for user",
        "secrets",
        ("database",),
        failfast=True,
    ),
    # The revision points at a database that does not exist (its DATABASE_URL): PostgreSQL's
    # 'FATAL: database "app" does not exist', asyncpg's InvalidCatalogNameError; SQLAlchemy's
    # "Could not parse SQLAlchemy URL from string ''" (an empty DATABASE_URL).
    _rule(
        "database_config",
        INFRASTRUCTURE,
        "Database named in the revision's configuration does not exist",
        r'InvalidCatalogNameError|database "[^"]+" does not exist|Could not parse SQLAlchemy URL',
        "config",
        ("database",),
        failfast=True,
    ),
    # Database slow: a statement cut by statement_timeout ("canceling statement due to
    # statement timeout", asyncpg QueryCanceledError) and the platform's "postgres is slow".
    _rule(
        "database_slow",
        INFRASTRUCTURE,
        "Database slow",
        r"postgres\w* (?:is )?slow|database latency|postgres\w*.{0,40}no answer within|"
        r"canceling statement due to statement timeout|QueryCanceledError",
        "PostgreSQL",
        ("database",),
        failfast=True,
        criteria=("database_latency_ms",),
    ),
    # Every connection of the pool is held (a slow database or a burst the pool cannot
    # take): SQLAlchemy's "QueuePool limit of size 5 overflow 10 reached, connection timed
    # out, timeout 30.00" (sqlalche.me/e/20/3o7r); psycopg_pool's "PoolTimeout: couldn't get
    # a connection after 30.00 sec"; psycopg2's "PoolError: connection pool exhausted".
    _rule(
        "database_pool",
        INFRASTRUCTURE,
        "Database connection pool exhausted",
        r"QueuePool limit of size \d+ overflow -?\d+ reached|couldn't get a connection after|"
        r"connection pool exhausted",
        "PostgreSQL",
        ("database",),
        failfast=True,
    ),
    # PostgreSQL out of connection slots: "FATAL: sorry, too many clients already" (asyncpg
    # TooManyConnectionsError), "remaining connection slots are reserved for non-replication
    # superuser connections".
    _rule(
        "database_full",
        INFRASTRUCTURE,
        "PostgreSQL full (connections or disk)",
        r"sorry, too many clients already|TooManyConnectionsError|remaining connection slots "
        r"are reserved|too many connections for (?:role|database)|DiskFullError|could not extend "
        r"file",
        "PostgreSQL",
        ("database",),
        failfast=True,
        criteria=("database_latency_ms",),
    ),
    # The database is unreachable, restarting or dropped the connection. libpq/psycopg:
    # 'connection to server at "h" (10.0.0.3), port 5432 failed: Connection refused', "could
    # not connect to server", "server closed the connection unexpectedly", "SSL SYSCALL error:
    # EOF detected", "terminating connection due to administrator command", "the database
    # system is starting up"; asyncpg: "ConnectionDoesNotExistError: connection was closed in
    # the middle of operation", CannotConnectNowError, "Connect call failed ('h', 5432)",
    # "InterfaceError: connection is closed" (a pooled connection the server dropped).
    # The bare names asyncpg / psycopg / OperationalError are not evidence: they are in every
    # traceback through the driver, including a code bug's (a UniqueViolationError).
    _rule(
        "database_down",
        INFRASTRUCTURE,
        "Database unreachable",
        r"\bpostgres\w* is down|\bpostgres\w*\b[^/\n]{0,40}\b(?:refused|unreachable|"
        r'unavailable)\b|could not connect to server|connection to server at "[^"]*"[^\n]{0,60}'
        r"failed|the database system is (?:starting up|shutting down|in recovery mode|not yet "
        r"accepting)|CannotConnectNowError|terminating connection due to administrator command|"
        r"AdminShutdown|server closed the connection unexpectedly|connection was closed in the "
        r"middle of operation|ConnectionDoesNotExistError|SSL SYSCALL error|SSL connection has "
        r"been closed unexpectedly|Connect call failed \([^)]*, 5432\)|could not translate host "
        r'name "[^"]*" to address|InterfaceError\W+connection (?:is|already) closed|'
        r"DisconnectionError|ConnectionFailureError|PostgresConnectionError",
        "PostgreSQL",
        ("database",),
        failfast=True,
        criteria=("database_latency_ms",),
    ),
    # The deployed code and the database's schema disagree (a migration not run, a column
    # renamed): the revision's code, not the database being down. PostgreSQL's 'relation
    # "x" does not exist', 'column "y" does not exist' (asyncpg UndefinedTableError /
    # UndefinedColumnError, psycopg errors.UndefinedTable).
    _rule(
        "database_schema",
        APPLICATION,
        "Database schema does not match the code (a migration?)",
        r"UndefinedTable|UndefinedColumn|relation \"[^\"]+\" does not exist|column \"[^\"]+\" "
        r"(?:of relation \"[^\"]+\" )?does not exist|no such (?:table|column)",
    ),
    # The LLM provider's API key is rejected: the revision's secret. OpenAI "Incorrect API
    # key provided" (openai.AuthenticationError: Error code: 401), Anthropic
    # "authentication_error ... invalid x-api-key", "Could not resolve authentication method.
    # Expected either api_key or auth_token to be set."; Gemini "API key not valid".
    _rule(
        "llm_key",
        INFRASTRUCTURE,
        "LLM provider API key missing or rejected (secret)",
        r"Incorrect API key provided|invalid x-api-key|invalid_api_key|API key not valid|"
        r"Could not resolve authentication method",
        "secrets",
        ("agent",),
        failfast=True,
    ),
    # The LLM provider rate-limits, is out of quota or overloaded: a dependency full.
    # OpenAI: "RateLimitError: Error code: 429 - ... 'code': 'rate_limit_exceeded'", "You
    # exceeded your current quota ... 'insufficient_quota'" (OpenBMB/ChatDev#399, OpenHands
    # #998); Anthropic: "rate_limit_error", 529 "overloaded_error" (cline/cline#52,
    # anthropics/claude-code#5184); Vertex/Gemini: "ResourceExhausted: 429 Resource has been
    # exhausted (e.g. check quota).", "429 RESOURCE_EXHAUSTED", "Quota exceeded for
    # aiplatform.googleapis.com/..." (google/generative-ai-docs#438, googleapis/python-genai
    # #17, felixbinder/introspection_self_prediction#66).
    _rule(
        "llm_rate_limit",
        INFRASTRUCTURE,
        "LLM provider rate limit or quota exhausted",
        r"RateLimitError|rate_limit_exceeded|rate_limit_error|insufficient_quota|"
        r"exceeded your current quota|Rate limit reached for|RESOURCE_EXHAUSTED|"
        r"Resource (?:has been )?exhausted|ResourceExhausted|Quota exceeded for "
        r"(?:aiplatform|generativelanguage)|overloaded_error|(?:engine|model) is (?:currently )?"
        r"overloaded|server is overloaded or not ready yet",
        "LLM provider",
        ("agent",),
        failfast=True,
        pressure=True,
    ),
    # The LLM provider cannot be reached: openai/anthropic "APIConnectionError: Connection
    # error.", "APITimeoutError: Request timed out." (openai-python _exceptions.py).
    _rule(
        "llm_down",
        INFRASTRUCTURE,
        "LLM provider unreachable",
        r"APIConnectionError|APITimeoutError",
        "LLM provider",
        ("agent",),
        failfast=True,
    ),
    # The revision names a model the provider does not serve it: OpenAI "NotFoundError: Error
    # code: 404 - The model `x` does not exist or you do not have access to it." ('code':
    # 'model_not_found'); Vertex "404 Publisher Model `...` was not found or your project does
    # not have access to it."; Gemini "models/x is not found for API version v1beta".
    _rule(
        "llm_model",
        INFRASTRUCTURE,
        "LLM model not available to the revision (configuration)",
        r"model_not_found|does not exist or you do not have access to it|Publisher Model .{0,200}"
        r"was not found|is not found for API version",
        "config",
        ("agent",),
        failfast=True,
    ),
    # Cloud Run killed an instance over its memory limit: "Memory limit of 512 MiB exceeded
    # with 516 MiB used. Consider increasing the memory limit" (dart-lang/pub-dev#9554,
    # SkyTruth/cerulean-cloud#90; "512M" in older logs, googleapis/repo-automation-bots#2418);
    # gunicorn's "Worker (pid:8) was sent SIGKILL! Perhaps out of memory?".
    _rule(
        "cloud_run_memory",
        INFRASTRUCTURE,
        "Service out of memory (Cloud Run memory limit)",
        r"Memory limit of \d+(?:\.\d+)? ?\w+ exceeded|was sent SIGKILL! Perhaps out of memory",
        "Cloud Run",
        (EVERY_AREA,),
    ),
    # The revision's container never served: "Container failed to start. Failed to start and
    # then listen on the port defined by the PORT environment variable." (simonw/datasette#694),
    # "The user-provided container failed to start and listen on the port defined provided
    # by the PORT=8080 environment variable" (taniiicom/emorize#19), "Revision 'x' is not
    # ready and cannot serve traffic". A crash's own reason (a missing module) is matched first.
    _rule(
        "cloud_run_start",
        INFRASTRUCTURE,
        "Revision failed to start (Cloud Run)",
        r"Container failed to start|failed to start and (?:then )?listen on the port|"
        r"is not ready and cannot serve traffic|STARTUP (?:TCP|HTTP) probe failed",
        "Cloud Run",
        (EVERY_AREA,),
    ),
    # Cloud Run's front end turned requests away: 429 "Rate exceeded." when max instances are
    # busy, "The request was aborted because there was no available instance."
    # (cloud.google.com/run/docs/troubleshooting#429).
    _rule(
        "cloud_run_capacity",
        INFRASTRUCTURE,
        "Cloud Run out of instances (429 rate exceeded)",
        r"Rate exceeded\.|no available instance",
        "Cloud Run",
        pressure=True,
    ),
    # "The request failed because either the HTTP response was malformed or connection to the
    # instance had an error." (cloud.google.com/run/docs/troubleshooting#malformed-response-
    # or-connection-error): the instance died or cut the connection under the request.
    _rule(
        "cloud_run_connection",
        INFRASTRUCTURE,
        "Cloud Run lost the connection to the instance (malformed response)",
        r"HTTP response was malformed|connection to the instance had an error",
        "Cloud Run",
    ),
    # Cloud Run turned the caller away before the code: "Error: Forbidden Your client does not
    # have permission to get URL /x from this server." and "The request was not authenticated.
    # Either allow unauthenticated invocations or set the proper Authorization header."
    # (cloud.google.com/run/docs/troubleshooting#unauthorized-client): the service's IAM
    # (invoker) configuration of this deploy.
    _rule(
        "cloud_run_iam",
        INFRASTRUCTURE,
        "Cloud Run refuses the caller (invoker IAM)",
        r"Your client does not have permission to get URL|Either allow unauthenticated "
        r"invocations or set the proper Authorization header",
        "config",
    ),
    _rule(
        "dns",
        INFRASTRUCTURE,
        "DNS failure",
        r"gaierror|Name or service not known|NXDOMAIN|Temporary failure in name resolution|"
        r"nodename nor servname provided|getaddrinfo failed|EAI_AGAIN",
    ),
    _rule(
        "tls",
        INFRASTRUCTURE,
        "TLS failure",
        r"SSLError|SSLCertVerificationError|CERTIFICATE_VERIFY_FAILED|tlsv1 alert|"
        r"WRONG_VERSION_NUMBER|certificate has expired",
    ),
    # The service's own log says its code raised while serving the request: uvicorn's
    # "Exception in ASGI application" (Kludex/uvicorn#1916), websockets' "connection handler
    # failed", aiohttp's and gunicorn's "Error handling request", Flask's "Exception on /x
    # [GET]", and the "Unhandled exception / unhandled error in GET /x: ValueError: ..." of
    # many handlers. Whatever the client then saw (a 500, a connection cut mid-body, a
    # WebSocket closed without a close frame: uvicorn closes the transport when a handler
    # raises) is that crash's. After the dependency rules: a handler that raised because
    # Redis refused names Redis in the same log, and that rule comes first; a line that
    # itself names a refused, timed-out or unavailable connection is left to the symptoms.
    _rule(
        "handler_raised",
        APPLICATION,
        "Request handler raised (server code)",
        r"(?:Exception in ASGI application|connection handler failed|Error handling request|"
        r"ASGI callable returned without|Exception on /\S* \[[A-Z]+\]|unhandled (?:error|"
        r"exception))(?![^\n]*(?:refused|timed? ?out|unavailable|unreachable|reset by peer|"
        r"Connect(?:ion)?Error|Timeout))",
    ),
    # The platform closed sessions because a dependency failed under them (its reason names
    # it: "session store unavailable"), or cut answers off mid-stream, or the keepalive ping
    # went unanswered ("sent 1011 (internal error) keepalive ping timeout", websockets).
    _rule(
        "websocket_dropped",
        INFRASTRUCTURE,
        "WebSocket sessions dropped (1011)",
        r"\b1011\b[^;\n]{0,60}\b(?:unavailable|unreachable|timed? ?out|overloaded)\b|"
        r"dropped mid-stream|keepalive ping timeout",
        "WebSocket sessions",
        ("websocket",),
        criteria=("websocket_success_rate",),
    ),
    # No close frame at all (1006): the connection was cut under the session (a proxy, an
    # instance stopped). websockets: "ConnectionClosedError: no close frame received or sent".
    _rule(
        "websocket_cut",
        INFRASTRUCTURE,
        "WebSocket connections cut (1006, no close frame)",
        r"no close frame received|(?:received|sent|code\W{0,3}|closed? with) ?1006\b",
        "WebSocket sessions",
        ("websocket",),
        criteria=("websocket_success_rate",),
    ),
    *(rule for name in SUBAGENTS for rule in _subagent_rules(name)),
    _rule(
        "agent_hang",
        INFRASTRUCTURE,
        "Agent pipeline hangs",
        r"agent pipeline stalled|timed out after .* s.*agent|agent.*timed out|Hung.*agent",
        "agent pipeline",
        ("agent",),
        failfast=True,
        criteria=("agent_pipeline_ms",),
    ),
    # A handler raised during a WebSocket session: the websockets server closes with 1011 and
    # no reason of its own ("received 1011 (internal error); then sent 1011 (internal
    # error)", websockets' legacy/server.py closing after "connection handler failed"). A
    # 1011 whose reason names a dependency was matched above (websocket_dropped).
    _rule(
        "websocket_server_error",
        APPLICATION,
        "WebSocket closed by a server error (1011)",
        r"(?:received|sent) 1011 \(internal error\)",
    ),
    _rule(
        "hung",
        INFRASTRUCTURE,
        "Tests hung until the phase budget ran out",
        r"^Hung\b",
    ),
    # Cloud Run's 504 "upstream request timeout", gRPC's DEADLINE_EXCEEDED and every client
    # timeout (httpx ReadTimeout / ConnectTimeout / PoolTimeout, TimeoutError, pytest-timeout's
    # "Timeout >30.0s"): a symptom, the consequence of whatever is slow behind it. "Timeout"
    # counts as a word or a class name's end only: DEFAULT_TIMEOUT in a NameError is no timeout.
    _rule(
        "timeout",
        INFRASTRUCTURE,
        "Requests time out",
        r"timed out|upstream request timeout|deadline exceeded|WORKER TIMEOUT|"
        r"(?-i:(?:\b|[a-z])Timeout(?:Error|Exception)?\b)",
    ),
    _rule(
        "refused",
        INFRASTRUCTURE,
        "Connection refused",
        r"Connection refused|ConnectError|ConnectionRefused|Errno 111|Connect call failed|"
        r"ECONNREFUSED",
    ),
    # A streamed response cut off after its status line: the server sent 200 and its first
    # chunks, then closed cleanly without the rest, which is what uvicorn/h11 does when the
    # handler's generator raises mid-stream (a network cut resets or times out instead).
    # httpx/httpcore "RemoteProtocolError: peer closed connection without sending complete
    # message body (incomplete chunked read)" (encode/httpx _transports/default.py mapping
    # h11's error).
    _rule(
        "response_cut",
        APPLICATION,
        "Response cut off mid-body (the handler failed while streaming)",
        r"incomplete chunked read|peer closed connection without sending complete message body",
    ),
    # Connections dropped mid-request: "ConnectionResetError: [Errno 104] Connection reset by
    # peer", httpx/httpcore "RemoteProtocolError: Server disconnected without sending a
    # response." and "peer closed connection without sending complete message body",
    # "BrokenPipeError: [Errno 32] Broken pipe", aiohttp "ServerDisconnectedError", and
    # websockets' "InvalidMessage: did not receive a valid HTTP response" (the handshake cut).
    _rule(
        "connection_dropped",
        INFRASTRUCTURE,
        "Connections dropped (reset or disconnected)",
        r"ConnectionResetError|Connection reset by peer|RemoteProtocolError|Server "
        r"disconnected|peer closed connection|BrokenPipeError|Broken pipe|"
        r"ConnectionAbortedError|Connection aborted|IncompleteRead|did not receive a valid HTTP "
        r"response|(?:httpx|httpcore)\.(?:ReadError|WriteError|NetworkError)",
    ),
    # A rate limit without a named provider (a 429 from the platform's own limiter or an
    # API in front of it): the capacity in front of the code, not its behaviour. google-genai
    # "ClientError: 429 Sorry..." (googleapis/python-genai#1977), requests "429 Client Error:
    # Too Many Requests for url".
    _rule(
        "rate_limited",
        INFRASTRUCTURE,
        "Rate limited (429)",
        r"HTTP 429\b|\b429 Too Many Requests|Too Many Requests|status(?:_code)? (?:==|=|:) ?429|"
        r"Quota exceeded|Error: (?:Error code: )?429\b|\b429 Client Error",
        pressure=True,
    ),
    # A 502/503/504: httpx "Server error '503 Service Unavailable' for url", Cloud Run's own
    # 503 "Service Unavailable" page, Google's front end "The server encountered a temporary
    # error and could not complete your request.", websockets' 1013 (try again later).
    _rule(
        "unavailable",
        INFRASTRUCTURE,
        "Service unavailable (5xx)",
        r"HTTP 50[234]\b|\b50[234] (?:Service|Bad|Gateway)|status(?:_code)? (?:==|=|:) ?50[234]|"
        r"Service Unavailable|Bad Gateway|Gateway Time-?out|1013 \(try again later\)|"
        r"server encountered a temporary error",
        pressure=True,
    ),
    # The platform refused the suite's credentials: a 401 (the token its own auth service
    # issued is not accepted: the services disagree on a secret, a key, an audience) or a 403
    # (the caller lacks a permission: Cloud Run's invoker role, an IAP policy). httpx "Client
    # error '401 Unauthorized' for url", requests "401 Client Error: Unauthorized for url",
    # Google's front end "Error: Forbidden. Your client does not have permission to get URL".
    # websockets' "1008 (policy violation) invalid token". A test that sends no token reads
    # the same; it fails on every deploy, and history calls it known, not new.
    _rule(
        "unauthorized",
        INFRASTRUCTURE,
        "Requests refused as unauthorized (401/403: credentials or permissions)",
        r"HTTP 40[13]\b|\b40[13] (?:Unauthorized|Forbidden)\b|Client error '40[13]|"
        r"\b40[13] Client Error\b|client does not have permission|1008 \(policy violation\) "
        r"(?:invalid|expired|missing) token",
        "auth",
        ("auth",),
    ),
    _rule(
        "server_error",
        APPLICATION,
        "Server errors (500)",
        r"HTTP 500\b|Internal Server Error|Traceback",
    ),
    _rule(
        "contract",
        APPLICATION,
        "Contract broken (4xx)",
        r"HTTP 4\d\d\b|status(?:_code)? (?:==|=|:) ?4\d\d|Client error '4\d\d",
    ),
)
