"""Calling the Lambda handlers in this process, as Lambda would: event + context.

Each function gets what its deployed twin has: its name, memory and time budget (from
``fleet.deployment``, the stack's own figures) and a clock that counts down from the
invocation's start. Like Lambda, a function serves several invocations at once, up to
its concurrency (a small pool, :data:`DEFAULT_CONCURRENCY`); the others wait their turn.
Unlike Lambda, the invocations share one process: module-level state (the runtime, the
embedded cache) is one copy for all of them, not one per execution environment.

Handlers are reloaded when their code changes (``handlers``, ``fleet``, ``dynabatch``
under ``lambdas/``): the files' modification times are compared at most once a second,
and a change drops those modules so the next invocation imports them afresh, as a new
deployment's cold start would.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleet.deployment import API_FUNCTIONS, FUNCTIONS, FunctionSpec

__all__ = [
    "DEFAULT_CONCURRENCY",
    "LOCAL_ACCOUNT",
    "CodeWatcher",
    "InvocationTimeout",
    "LambdaContext",
    "LocalFunction",
    "local_function",
    "scheduled_event",
]

LOCAL_ACCOUNT = "000000000000"
#: Invocations of one function that run at once; more wait for a free slot.
DEFAULT_CONCURRENCY = 4
#: The packages a handler is made of, reloaded together when one of their files changes.
CODE_PACKAGES = ("fleet", "dynabatch")
Handler = Callable[[dict[str, Any], Any], Any]


class InvocationTimeout(Exception):
    """The caller stopped waiting (the invocation itself goes on, as in Lambda)."""


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


class CodeWatcher:
    """Notices edits to the handlers' code by the files' modification times (no polling
    thread: checked when an invocation starts, at most once per ``interval``)."""

    def __init__(self, interval: float = 1.0, packages: tuple[str, ...] = CODE_PACKAGES) -> None:
        self.interval, self.packages = interval, packages
        self.generation = 0
        self._lock = threading.Lock()
        self._checked = 0.0
        self._seen: dict[str, int] | None = None

    def _roots(self) -> list[Path]:
        roots: list[Path] = []
        for name in self.packages:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.submodule_search_locations:
                roots.extend(Path(p) for p in spec.submodule_search_locations)
        return roots

    def _snapshot(self) -> dict[str, int]:
        stamps = {}
        for root in self._roots():
            for path in root.rglob("*.py"):
                with contextlib.suppress(FileNotFoundError):  # an editor's temp file
                    stamps[str(path)] = path.stat().st_mtime_ns
        return stamps

    def check(self) -> int:
        """The code's generation: it goes up (and the modules are dropped) on a change."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self.interval:
                return self.generation
            self._checked = now
            snapshot = self._snapshot()
            if self._seen is not None and snapshot != self._seen:
                self.generation += 1
                _drop_modules(self.packages)
                sys.stderr.write("[reload] handler code changed: next invocations import it anew\n")
            self._seen = snapshot
            return self.generation


def _drop_modules(packages: tuple[str, ...]) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            del sys.modules[name]
    importlib.invalidate_caches()


#: One watcher for every function: they share the packages it watches.
WATCHER = CodeWatcher()


#: Powertools' event handler keeps the request it is resolving on a class attribute shared
#: by every resolver in the process (``BaseRouter.current_event``). In Lambda that is safe:
#: an execution environment runs one invocation at a time. Here the HTTP functions share
#: one process, so their invocations take turns, or one request would be answered with
#: another's body; the scheduled functions and the bulk writer still run side by side.
_RESOLVER_TURN = threading.Lock()


class LocalFunction:
    """One function: its handler (imported on first use, again after a code change),
    its spec, and a pool of ``concurrency`` slots."""

    def __init__(
        self,
        spec: FunctionSpec,
        region: str,
        concurrency: int = DEFAULT_CONCURRENCY,
        watcher: CodeWatcher | None = None,
    ) -> None:
        self.spec = spec
        self.region = region
        self.name = f"fleet-local-{spec.name}"
        self.concurrency = concurrency
        self.watcher = watcher
        self._handler: Handler | None = None
        self._generation = -1
        self._import_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)

    @property
    def handler(self) -> Handler:
        """``module.function`` from the spec, imported after the environment is set."""
        generation = self.watcher.check() if self.watcher is not None else 0
        with self._import_lock:
            if self._handler is None or generation != self._generation:
                module, _, function = self.spec.handler.rpartition(".")
                # Powertools' Logger keeps the stream it finds at import: stderr, so the
                # functions' logs stay off stdout (the banner's, and a command's result).
                with contextlib.redirect_stdout(sys.stderr):
                    imported = importlib.import_module(module)
                self._handler = getattr(imported, function)
                self._generation = generation
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
        """Run the handler on ``event`` in this thread, once a slot is free."""
        handler = self.handler
        turn = _RESOLVER_TURN if self.spec in API_FUNCTIONS else contextlib.nullcontext()
        with self._slots, turn:
            return handler(event, self.context())

    def invoke_within(self, event: dict[str, Any], seconds: float) -> Any:
        """:meth:`invoke` in a thread of its own, waited for at most ``seconds``.

        Raises
        ------
        InvocationTimeout
            No result in time: the invocation keeps running (a daemon thread, so it never
            holds up the process's exit), as a Lambda invocation outlives API Gateway's
            timeout.
        """
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                outcome["result"] = self.invoke(event)
            except BaseException as error:  # handed to the waiting thread
                outcome["error"] = error
            finally:
                done.set()

        threading.Thread(target=call, name=f"invoke-{self.spec.name}", daemon=True).start()
        if not done.wait(seconds):
            raise InvocationTimeout(f"{self.name} did not answer within {seconds:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


def local_function(
    name: str,
    region: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    watcher: CodeWatcher | None = None,
) -> LocalFunction:
    """The function called ``name`` (``loader``, ``transfer``, ``warmer``, ``sweeper``)."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return LocalFunction(spec, region, concurrency, watcher)
    raise KeyError(name)


def function_names() -> list[str]:
    """Every function's short name, in the stack's order."""
    return [spec.name for spec in FUNCTIONS]


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


def events_dir() -> Path:
    """The sample events shipped with the package (``fleet invoke FUNCTION --event ...``)."""
    return Path(__file__).with_name("events")
