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
CTX_SWEEPER_RATE = "sweeperRateMinutes"
CTX_WARMER_RATE = "warmerRateMinutes"
CTX_POWERTOOLS_LAYER_VERSION = "powertoolsLayerVersion"
CTX_REGION = "region"

STAGES = ("dev", "prod")
CACHE_VALKEY = "valkey"
CACHE_NONE = "none"
CACHE_MODES = (CACHE_VALKEY, CACHE_NONE)

# --- Lambda ------------------------------------------------------------------------------
#: The layer is published per Python version and architecture; python3.14 on arm64 is
#: the functions' runtime (infra/functions.py).
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python314-arm64"
#: Layer versions are the same number in every commercial region. Override with
#: ``-c powertoolsLayerVersion=N`` to follow a newer Powertools release.
POWERTOOLS_LAYER_VERSION = 38

SERVICE_NAME = "device-fleet"
METRICS_NAMESPACE = "DeviceFleet"
LOG_LEVEL = "INFO"
CACHE_TTL_SECONDS = 300
DEFAULT_CALLER_CLAIM = "sub"
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


LOADER = FunctionSpec(
    "loader",
    "handlers.loader.handler",
    memory_mb=512,  # parallel BatchGetItem chunks + JSON: more memory is more CPU
    timeout_seconds=10,  # well inside the HTTP API's 30 s integration timeout
    description="GET /users/{userId}/devices: BatchGetItem with a read-through cache",
)
TRANSFER = FunctionSpec(
    "transfer",
    "handlers.transfer.handler",
    memory_mb=256,
    timeout_seconds=10,
    description="POST /devices/{deviceId}/transfer: one idempotent TransactWriteItems",
)
WARMER = FunctionSpec(
    "warmer",
    "handlers.warmer.handler",
    memory_mb=512,
    timeout_seconds=60,
    description="Scheduled: loads hot devices and writes them to the shared cache",
    scheduled=True,
)
SWEEPER = FunctionSpec(
    "sweeper",
    "handlers.sweeper.handler",
    memory_mb=512,
    timeout_seconds=120,
    description="Scheduled: deletes expired sessions found through the sparse expiry index",
    scheduled=True,
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
THROTTLE_RATE_LIMIT = 100  # steady requests per second for the stage
THROTTLE_BURST_LIMIT = 200

# --- Cache ---------------------------------------------------------------------------------
CACHE_ENGINE = "valkey"
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
