"""Every name, size and limit of the infrastructure, in one place.

The stack, the tests and docs/deploy.md refer to these; nothing in ``infra`` writes a
memory size, a timeout or a context key twice.
"""

from __future__ import annotations

from pathlib import Path

# What the code needs as much as the stack (the functions, their routes and schedules, the
# cache TTL, the caller claim) is defined once, in the domain package, and used from here.
from fleet import deployment as _deployment
from fleet import settings as _settings

FunctionSpec = _deployment.FunctionSpec
LOADER = _deployment.LOADER
TRANSFER = _deployment.TRANSFER
WARMER = _deployment.WARMER
SWEEPER = _deployment.SWEEPER
BULK_WRITER = _deployment.BULK_WRITER
FUNCTIONS = _deployment.FUNCTIONS
SWEEPER_SAFETY_MARGIN_SECONDS = _deployment.SWEEPER_SAFETY_MARGIN_SECONDS
DEFAULT_SWEEPER_RATE_MINUTES = _deployment.DEFAULT_SWEEPER_RATE_MINUTES
DEFAULT_WARMER_RATE_MINUTES = _deployment.DEFAULT_WARMER_RATE_MINUTES
LIST_DEVICES_ROUTE = _deployment.LIST_DEVICES_ROUTE
TRANSFER_ROUTE = _deployment.TRANSFER_ROUTE
SERVICE_NAME = _deployment.SERVICE_NAME
METRICS_NAMESPACE = _deployment.METRICS_NAMESPACE
CACHE_TTL_SECONDS = _settings.DEFAULT_CACHE_TTL_SECONDS
DEFAULT_CALLER_CLAIM = _settings.DEFAULT_CALLER_CLAIM


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

LOG_LEVEL = "INFO"
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


# --- HTTP API ------------------------------------------------------------------------------
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
#: A run of 100 M items at 4,000 units/s takes about 7 hours; a day leaves room.
BULK_IMPORT_TIMEOUT_HOURS = 24
