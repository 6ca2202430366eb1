"""Every name, size and limit of the infrastructure, in one place.

The stack, the tests and docs/deploy.md refer to these; nothing in ``infra`` writes a
memory size, a timeout or a context key twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The repository root: ``lambdas/`` (function code and the layer's source) lives under it.
REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / "lambdas"
#: The batch layer's package, shipped as ``python/dynabatch`` in the layer zip.
LAYER_PACKAGE = "dynabatch"
#: Pure-Python packages copied from the installed environment into the layer next to
#: dynabatch (no pip, no network at synth). ``valkey`` is the cache client.
LAYER_VENDORED_PACKAGES: tuple[str, ...] = ("valkey",)
#: Powertools and its two dependencies, copied the same way unless ``-c powertools=public``:
#: the very release ``requirements.txt`` pins and the tests ran, so what is deployed is
#: what was tested.
POWERTOOLS_PACKAGES: tuple[str, ...] = ("aws_lambda_powertools", "jmespath", "typing_extensions")
#: The distribution whose pinned version the layer must carry (tests/infra checks it).
POWERTOOLS_DISTRIBUTION = "aws-lambda-powertools"

STACK_NAME = "DeviceFleet"
#: Used only when neither context ``region`` nor CDK_DEFAULT_REGION / AWS_REGION says
#: otherwise, so that ``cdk synth`` needs no AWS configuration at all.
DEFAULT_REGION = "us-east-1"

# --- CDK context keys (``cdk deploy -c key=value``) -------------------------------------
CTX_STAGE = "stage"
CTX_CACHE = "cache"
CTX_JWT_ISSUER = "jwtIssuer"
CTX_JWT_AUDIENCE = "jwtAudience"
CTX_CALLER_CLAIM = "callerClaim"
CTX_CALLER_CLAIM_IMMUTABLE = "callerClaimImmutable"
CTX_SWEEPER_RATE = "sweeperRateMinutes"
CTX_WARMER_RATE = "warmerRateMinutes"
CTX_POWERTOOLS = "powertools"
CTX_DYNAMODB_PREFIX_LIST = "dynamodbPrefixListId"
#: Per function: ``-c loaderReservedConcurrency=20`` (``none``: no reservation).
CTX_RESERVED_CONCURRENCY_SUFFIX = "ReservedConcurrency"
#: Per route, named after its function: ``-c transferRateLimit=20 -c transferBurstLimit=40``.
CTX_RATE_LIMIT_SUFFIX = "RateLimit"
CTX_BURST_LIMIT_SUFFIX = "BurstLimit"
CTX_REGION = "region"

STAGES = ("dev", "prod")
CACHE_VALKEY = "valkey"
CACHE_NONE = "none"
CACHE_MODES = (CACHE_VALKEY, CACHE_NONE)

# --- Lambda ------------------------------------------------------------------------------
#: ``bundled``: Powertools travels in the project's layer (default). ``public``: AWS's
#: public layer of exactly the pinned release, resolved at deploy time through its SSM
#: parameter (``/aws/service/powertools/python/arm64/python3.14/<version>``).
POWERTOOLS_BUNDLED = "bundled"
POWERTOOLS_PUBLIC = "public"
POWERTOOLS_SOURCES = (POWERTOOLS_BUNDLED, POWERTOOLS_PUBLIC)
POWERTOOLS_SSM_PREFIX = "/aws/service/powertools/python/arm64/python3.14"

SERVICE_NAME = "device-fleet"
METRICS_NAMESPACE = "DeviceFleet"
LOG_LEVEL = "INFO"
CACHE_TTL_SECONDS = 300
DEFAULT_CALLER_CLAIM = "sub"
#: Claims no user can change about themselves: Cognito's ``sub`` (a UUID fixed at
#: creation) and ``cognito:username`` (fixed at creation). Any other claim identifies a
#: caller only when the operator states it is immutable (``-c callerClaimImmutable=true``).
IMMUTABLE_CLAIMS = ("sub", "cognito:username")
#: A claim name goes into the access log's format string: no quotes, no spaces.
CLAIM_NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_:.\-]{0,127}"
#: The only attribute a signed-in user may change about themselves (Cognito treats an
#: empty list as "all standard attributes writable", so the list cannot be empty).
USER_WRITABLE_ATTRIBUTES: tuple[str, ...] = ("locale",)
#: Valkey serverless listens on 6379 (primary) and 6380 (read from replicas).
CACHE_PORT = 6379
CACHE_READER_PORT = 6380


@dataclass(frozen=True)
class FunctionSpec:
    """One function: its handler (code asset rooted at ``lambdas/``), size and time budget."""

    name: str
    handler: str
    memory_mb: int
    timeout_seconds: int
    description: str
    scheduled: bool = False
    #: Default reserved concurrency: a ceiling that keeps one function from starving the
    #: others (and the account) of concurrency; ``-c <name>ReservedConcurrency`` overrides.
    reserved_concurrency: int | None = None
    #: Default steady requests/s and burst of the function's route (API functions only).
    rate_limit: int | None = None
    burst_limit: int | None = None


LOADER = FunctionSpec(
    "loader",
    "handlers.loader.handler",
    memory_mb=512,  # parallel BatchGetItem chunks + JSON: more memory is more CPU
    timeout_seconds=10,  # well inside the HTTP API's 30 s integration timeout
    description="GET /users/{userId}/devices: BatchGetItem with a read-through cache",
    reserved_concurrency=20,
    rate_limit=100,
    burst_limit=200,
)
TRANSFER = FunctionSpec(
    "transfer",
    "handlers.transfer.handler",
    memory_mb=256,
    timeout_seconds=10,
    description="POST /devices/{deviceId}/transfer: one idempotent TransactWriteItems",
    reserved_concurrency=10,
    # Transfers are rare next to reads and each is a transaction over three items.
    rate_limit=20,
    burst_limit=40,
)
WARMER = FunctionSpec(
    "warmer",
    "handlers.warmer.handler",
    memory_mb=512,
    timeout_seconds=60,
    description="Scheduled: loads hot devices and writes them to the shared cache",
    scheduled=True,
    # One run at a time: a second would only repeat the first one's work.
    reserved_concurrency=1,
)
SWEEPER = FunctionSpec(
    "sweeper",
    "handlers.sweeper.handler",
    memory_mb=512,
    timeout_seconds=120,
    description="Scheduled: deletes expired sessions found through the sparse expiry index",
    scheduled=True,
    # One sweep at a time: overlapping sweeps would race over the same expired sessions.
    reserved_concurrency=1,
)
FUNCTIONS: tuple[FunctionSpec, ...] = (LOADER, TRANSFER, WARMER, SWEEPER)

#: The sweeper stops starting work when less than this is left of its time budget; it must
#: be well under SWEEPER.timeout_seconds or a run would do nothing.
SWEEPER_SAFETY_MARGIN_SECONDS = 10

# --- Schedules (minutes) -------------------------------------------------------------------
DEFAULT_SWEEPER_RATE_MINUTES = 5
#: Under CACHE_TTL_SECONDS, so a hot device is re-warmed before its cache entry expires.
DEFAULT_WARMER_RATE_MINUTES = 4

# --- HTTP API ------------------------------------------------------------------------------
LIST_DEVICES_ROUTE = "/users/{userId}/devices"
TRANSFER_ROUTE = "/devices/{deviceId}/transfer"
#: The stage's default, for any route without its own limits (each route has its own:
#: FunctionSpec.rate_limit / burst_limit).
THROTTLE_RATE_LIMIT = 100  # steady requests per second
THROTTLE_BURST_LIMIT = 200

# --- Cache ---------------------------------------------------------------------------------
CACHE_ENGINE = "valkey"
#: ``CACHE_AUTH``: the functions sign an IAM token and send it as the AUTH password.
CACHE_AUTH_IAM = "iam"
#: What the functions' cache user may do: keys under ``fleet:`` (devices and whatever
#: else the fleet keeps there), read/write/transaction/script commands, nothing that
#: the @dangerous category holds (FLUSHALL, CONFIG, KEYS, ...).
CACHE_ACCESS_STRING = (
    "on ~fleet:* -@all +@read +@write +@connection +@transaction +@scripting -@dangerous"
)
CACHE_MAJOR_VERSION = "8"
#: Upper bounds keep a runaway client from running up the bill; the minimum bill is
#: ElastiCache Serverless for Valkey's 100 MB metered floor.
CACHE_MAX_DATA_STORAGE_GB = 1
CACHE_MAX_ECPU_PER_SECOND = 5000

VPC_MAX_AZS = 2
VPC_CIDR = "10.40.0.0/16"

# --- Logs and alarms -----------------------------------------------------------------------
ALARM_EVALUATION_MINUTES = 5

# --- Distributed import (infra/bulkimport.py) ----------------------------------------------
CTX_BULK_IMPORT = "bulkImport"
#: An existing bucket for imports and results instead of one the stack creates.
CTX_BULK_IMPORT_BUCKET = "bulkImportBucket"
#: The tables a distributed import writes; one state machine and one worker each, so each
#: worker can write exactly one table.
BULK_IMPORT_TABLES: tuple[str, ...] = ("devices", "users", "sessions")
#: Objects to import go under ``imports/<table>/``; ResultWriter writes ``results/<table>/``.
BULK_IMPORT_PREFIX = "imports"
BULK_RESULTS_PREFIX = "results"
BULK_WRITER = FunctionSpec(
    "bulk-writer",
    "handlers.bulk_writer.handler",
    memory_mb=1769,  # one full vCPU: the batch layer's client CPU is the worker's limit
    timeout_seconds=120,  # a 1,000-item batch at a 100-unit share takes 10 s
    description="One batch of a distributed import: checked items through the batch layer",
)
#: A run of 100 M items at 4,000 units/s takes about 7 hours; a day leaves room.
BULK_IMPORT_TIMEOUT_HOURS = 24
