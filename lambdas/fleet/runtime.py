"""What a function process builds once and reuses across invocations.

The settings, one DynamoDB client, the batch clients on top of it and the cache are made
on first use (not at import, so that importing a handler stays cheap and tests can set the
environment first) and then kept for the life of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from dynabatch import BatchClient, RetryPolicy, make_client

from .cache import DeviceCache, open_cache
from .observability import metrics
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")

__all__ = [
    "Runtime",
    "BatchKind",
    "get_runtime",
    "reset_runtime",
    "cache_for",
    "API_RETRY",
    "BULK_RETRY",
]

#: ``api``: a request's tight retry budget; ``bulk``: scheduled and batch work's long one.
BatchKind = Literal["api", "bulk"]

#: Requests answer within API Gateway's 30 s: a short budget, then 503 + Retry-After.
API_RETRY = RetryPolicy(max_attempts=5, base_delay=0.02, max_delay=0.4, deadline=2.0)
#: Scheduled work streams for minutes, so no deadline (it counts from the start of a call);
#: instead a bounded total wait: at most 0.1 + 0.2 + 0.4 + 0.8 + 1.6 = 3.1 s of backoff per
#: item, well inside the sweeper's default 10 s safety margin. What is still unprocessed
#: is reported and picked up by the next run.
BULK_RETRY = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=2.0)


@dataclass
class Runtime:
    """Per-process objects shared by every invocation."""

    settings: Settings
    client: Any
    cache: DeviceCache
    _batches: dict[str, BatchClient] = field(default_factory=dict)
    _services: dict[str, Any] = field(default_factory=dict)
    # The local stack runs several functions in one process, on several threads; reentrant,
    # because a service's factory may ask for another shared object.
    _guard: threading.RLock = field(default_factory=threading.RLock)

    def service(self, name: str, factory: Callable[[Runtime], T]) -> T:
        """The service ``name``, built by ``factory`` on first use and kept after."""
        with self._guard:
            if name not in self._services:
                self._services[name] = factory(self)
            return cast(T, self._services[name])

    def retrying_client(self) -> Any:
        """A DynamoDB client with botocore's standard retries, for calls made outside the
        batch layer (Powertools' idempotency records). The layer's own client has botocore's
        retries off because the layer retries itself, with its budget and deadline."""
        return self.service(
            "retrying-client",
            lambda _: make_client(retries={"mode": "standard", "total_max_attempts": 3}),
        )

    def batch(self, kind: BatchKind = "api") -> BatchClient:
        """The batch client for ``"api"`` work (short retry budget) or ``"bulk"`` work."""
        batch = self._batches.get(kind)
        if batch is None:
            batch = BatchClient(
                self.client,
                retry=API_RETRY if kind == "api" else BULK_RETRY,
                metrics=metrics,
                key_schemas=self.settings.key_schemas(),
            )
            self._batches.setdefault(kind, batch)
        return self._batches[kind]


def cache_for(settings: Settings) -> DeviceCache:
    """The cache the settings describe, authenticating with IAM when ``CACHE_AUTH=iam``."""
    provider = None
    if settings.cache_auth == "iam":
        from .cache_iam import IamAuthToken

        user_id, name, region = settings.cache_user_id, settings.cache_name, settings.region
        if not (user_id and name and region):  # Settings.from_env refuses this already
            raise SettingsError("CACHE_AUTH=iam needs CACHE_USER_ID, CACHE_NAME and AWS_REGION")
        provider = IamAuthToken(user_id, name, region)
    return open_cache(settings.cache_url, credential_provider=provider)


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's :class:`Runtime`, built on first call from the environment."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                settings = Settings.from_env()
                client: DynamoDBClient = make_client()
                _runtime = Runtime(settings, client, cache_for(settings))
    return _runtime


def reset_runtime() -> None:
    """Forget the process's Runtime: the next call reads the environment again.

    For tests and the local stack, which change the environment within one process.
    """
    global _runtime
    with _lock:
        if _runtime is not None:
            for batch in _runtime._batches.values():
                batch.close()
        _runtime = None
