"""Calling the Lambda handlers in this process, exactly as Lambda would: event + context.

Each function gets what its deployed twin has: its name, memory and time budget (from
``infra.constants``, the stack's own figures) and a clock that counts down from the
invocation's start. Invocations of one function are serialised, as in one Lambda
execution environment, so module-level state in a handler sees one event at a time.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.constants import FUNCTIONS, FunctionSpec

__all__ = [
    "LOCAL_ACCOUNT",
    "LambdaContext",
    "LocalFunction",
    "local_function",
    "scheduled_event",
]

LOCAL_ACCOUNT = "000000000000"
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The context object a Python Lambda handler receives (the parts Powertools reads)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One function: its handler, imported on first use, and its spec."""

    def __init__(self, spec: FunctionSpec, region: str) -> None:
        self.spec = spec
        self.region = region
        self.name = f"fleet-local-{spec.name}"
        self._handler: Handler | None = None
        self._lock = threading.Lock()

    @property
    def handler(self) -> Handler:
        """``module.function`` from the spec, imported after the environment is set."""
        if self._handler is None:
            module, _, function = self.spec.handler.rpartition(".")
            self._handler = getattr(importlib.import_module(module), function)
        return self._handler

    def context(self) -> LambdaContext:
        """A fresh context for one invocation."""
        arn = f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{self.name}"
        return LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=arn,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=float(self.spec.timeout_seconds),
        )

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler on ``event`` (one invocation at a time) and return its result."""
        handler = self.handler
        with self._lock:
            return handler(event, self.context())


def local_function(name: str, region: str) -> LocalFunction:
    """The function called ``name`` (``loader``, ``transfer``, ``warmer``, ``sweeper``)."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return LocalFunction(spec, region)
    raise KeyError(name)


def scheduled_event(rule: str, region: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """An EventBridge "Scheduled Event", as a schedule rule delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT}:rule/{rule}"],
        "detail": detail or {},
    }
