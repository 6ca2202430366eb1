"""What the deployed stack and the code must agree on, defined once.

The functions (handler, memory, time budget, concurrency and route limits), their routes
and schedules. ``infra`` builds the stack from these; the handlers register their routes
with them; the local stack (``fleet run``, ``fleet invoke``) runs the functions with the same
figures. Defaults of the functions' environment live in :mod:`fleet.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FunctionSpec",
    "LOADER",
    "TRANSFER",
    "WARMER",
    "SWEEPER",
    "BULK_WRITER",
    "FUNCTIONS",
    "API_FUNCTIONS",
    "SWEEPER_SAFETY_MARGIN_SECONDS",
    "DEFAULT_SWEEPER_RATE_MINUTES",
    "DEFAULT_WARMER_RATE_MINUTES",
    "LIST_DEVICES_ROUTE",
    "TRANSFER_ROUTE",
    "powertools_route",
    "SERVICE_NAME",
    "METRICS_NAMESPACE",
    "OPENAPI_PATH",
]

#: The HTTP API's OpenAPI document: what the code enforces, stated for clients.
OPENAPI_PATH = Path(__file__).with_name("openapi.json")

SERVICE_NAME = "device-fleet"
METRICS_NAMESPACE = "DeviceFleet"


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
    "fleet.handlers.loader.handler",
    memory_mb=512,  # parallel BatchGetItem chunks + JSON: more memory is more CPU
    timeout_seconds=10,  # well inside the HTTP API's 30 s integration timeout
    description="GET /users/{userId}/devices: BatchGetItem with a read-through cache",
    reserved_concurrency=20,
    rate_limit=100,
    burst_limit=200,
)
TRANSFER = FunctionSpec(
    "transfer",
    "fleet.handlers.transfer.handler",
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
    "fleet.handlers.warmer.handler",
    memory_mb=512,
    timeout_seconds=60,
    description="Scheduled: loads hot devices and writes them to the shared cache",
    scheduled=True,
    # One run at a time: a second would only repeat the first one's work.
    reserved_concurrency=1,
)
SWEEPER = FunctionSpec(
    "sweeper",
    "fleet.handlers.sweeper.handler",
    memory_mb=512,
    timeout_seconds=120,
    description="Scheduled: deletes expired sessions found through the sparse expiry index",
    scheduled=True,
    # One sweep at a time: overlapping sweeps would race over the same expired sessions.
    reserved_concurrency=1,
)
FUNCTIONS: tuple[FunctionSpec, ...] = (LOADER, TRANSFER, WARMER, SWEEPER)
#: The functions behind API Gateway routes (Powertools' event handler).
API_FUNCTIONS: tuple[FunctionSpec, ...] = (LOADER, TRANSFER)

#: The sweeper stops starting work when less than this is left of its time budget; it must
#: be well under SWEEPER.timeout_seconds or a run would do nothing.
SWEEPER_SAFETY_MARGIN_SECONDS = 10

# --- Schedules (minutes) -------------------------------------------------------------------
DEFAULT_SWEEPER_RATE_MINUTES = 5
#: Under CACHE_TTL_SECONDS, so a hot device is re-warmed before its cache entry expires.
DEFAULT_WARMER_RATE_MINUTES = 4

# --- Distributed import --------------------------------------------------------------------
BULK_WRITER = FunctionSpec(
    "bulk-writer",
    "fleet.handlers.bulk_writer.handler",
    memory_mb=1769,  # one full vCPU: the batch layer's client CPU is the worker's limit
    timeout_seconds=120,  # a 1,000-item batch at a 100-unit share takes 10 s
    description="One batch of a distributed import: checked items through the batch layer",
)

# --- HTTP API ------------------------------------------------------------------------------
#: Route templates as API Gateway writes them (``{name}``).
LIST_DEVICES_ROUTE = "/users/{userId}/devices"
TRANSFER_ROUTE = "/devices/{deviceId}/transfer"


def powertools_route(template: str) -> str:
    """An API Gateway route template as Powertools' resolver writes it (``<name>``)."""
    return template.replace("{", "<").replace("}", ">")
