"""``fleet run``: the whole system on one machine.

moto's server as the DynamoDB endpoint (or any endpoint given), the four tables from
``fleet.tables`` (the stack's own definitions, TTL included), demo data (or the data a
``--state-dir`` kept), the embedded cache, the HTTP API in front of the same handlers
Lambda runs, and the two schedules.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import fleet.deployment as stack_constants
from botocore.exceptions import ClientError
from dynabatch import BatchClient
from fleet.tables import ALL_TABLES

from fleetcli.env import is_local, set_table_variables, table_name, use_dummy_credentials

from .apidocs import DOCS_HTML
from .demo import demo_data
from .embedded import start_moto
from .httpapi import GATEWAY_TIMEOUT, LOOPBACK_HOSTS, SOCKET_TIMEOUT, LocalApi, Route
from .invoke import DEFAULT_CONCURRENCY, WATCHER, LocalFunction, local_function, scheduled_event
from .state import load_tables, save_tables, saved_tables

__all__ = ["StackOptions", "LocalStack", "StackError", "OPENAPI_PATH"]

#: The HTTP API's OpenAPI document, kept beside the stack that deploys the API.
OPENAPI_PATH = stack_constants.OPENAPI_PATH
log = logging.getLogger("fleet.local")


@dataclass
class StackOptions:
    """``fleet run``'s flags."""

    host: str = "127.0.0.1"
    port: int = 3000
    dynamodb_endpoint: str | None = None
    dynamodb_port: int = 8000
    cache_url: str = "memory://"
    demo_data: bool | None = None
    sweep_every: float = stack_constants.DEFAULT_SWEEPER_RATE_MINUTES * 60.0
    warm_every: float = stack_constants.DEFAULT_WARMER_RATE_MINUTES * 60.0
    verbose: bool = False
    #: Bind a non-loopback ``host``: an explicit opt-in (``--allow-remote``).
    allow_remote: bool = False
    #: Honour X-Dev-User when the tables are not on this machine.
    dev_identity_remote: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    api_timeout: float = GATEWAY_TIMEOUT
    idle_timeout: float = SOCKET_TIMEOUT
    reload: bool = True
    state_dir: Path | None = None


class Schedule(threading.Thread):
    """Invokes a function with a "Scheduled Event" every ``every`` seconds, like a rule."""

    def __init__(self, function: LocalFunction, every: float, region: str) -> None:
        super().__init__(name=f"schedule-{function.spec.name}", daemon=True)
        self.function, self.every, self.region = function, every, region
        self.stopping = threading.Event()

    def run(self) -> None:
        # Like EventBridge's rate(): the first event comes one period after the start.
        while not self.stopping.wait(self.every):
            rule = f"fleet-local-{self.function.spec.name}-schedule"
            try:
                result = self.function.invoke(scheduled_event(rule, self.region))
                _say(f"[schedule] {self.function.spec.name}: {json.dumps(result, default=str)}")
            except Exception:  # a failed run is logged; the next one still comes
                log.exception("scheduled %s failed", self.function.spec.name)


class StackError(Exception):
    """The local stack cannot start as asked (the message says why and what to do)."""


def _exists(client: Any, name: str) -> bool:
    try:
        client.describe_table(TableName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


def _check_free(host: str, port: int) -> None:
    """Raise OSError if ``port`` is taken: moto's server would fail in its own thread and
    leave ``start()`` waiting forever."""
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(error.errno, f"DynamoDB port {host}:{port}: {error.strerror}") from None


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class LocalStack:
    """Everything ``fleet run`` starts; :meth:`stop` ends all of it."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.moto: Any = None
        self.endpoint = ""
        self.api: LocalApi | None = None
        self._threads: list[threading.Thread] = []
        self._schedules: list[Schedule] = []
        #: What was restored from ``--state-dir`` (table -> items), if anything.
        self.restored: dict[str, int] = {}
        self.saved: dict[str, int] = {}

    # -- start ----------------------------------------------------------------------

    def start(self) -> None:
        """Start every part, in dependency order; on failure, stop what started."""
        try:
            self._start_dynamodb()
            region = self._configure_environment()
            created = self._create_tables()
            self._restore_state()
            load_demo = self.options.demo_data
            if load_demo is None:
                load_demo = is_local(self.endpoint) and not self.restored
            if load_demo:
                self._load_demo_data()
            self._start_api(region)
            self._start_schedules(region)
            log.debug("tables created: %s", created)
        except BaseException:
            self.stop()
            raise

    def _start_dynamodb(self) -> None:
        if self.options.dynamodb_endpoint:
            self.endpoint = self.options.dynamodb_endpoint
            return
        _check_free("127.0.0.1", self.options.dynamodb_port)
        self.moto, self.endpoint = start_moto(self.options.dynamodb_port)

    @property
    def local_tables(self) -> bool:
        """True when the tables are on this machine (moto, DynamoDB Local)."""
        return is_local(self.endpoint)

    def _table_names(self) -> list[str]:
        return [table_name(t.logical_name) for t in ALL_TABLES]

    def _restore_state(self) -> None:
        state = self.options.state_dir
        if state is None or not saved_tables(state):
            return
        if not self.local_tables:
            raise StackError("--state-dir restores into local tables only, not a real account")
        keys = {table_name(t.logical_name): t.key_names() for t in ALL_TABLES}
        with BatchClient(key_schemas=keys) as batch:
            self.restored = load_tables(batch, state, self._table_names())

    def save_state(self) -> dict[str, int]:
        """Write the tables to ``--state-dir`` (if given and local); items per table."""
        state = self.options.state_dir
        if state is None or not self.endpoint or not self.local_tables:
            return {}
        client = boto3.session.Session().client("dynamodb")
        self.saved = save_tables(client, state, self._table_names())
        return self.saved

    def _configure_environment(self) -> str:
        env = os.environ
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.endpoint
        if is_local(self.endpoint):
            use_dummy_credentials()
        set_table_variables()
        env["CACHE_URL"] = self.options.cache_url
        env.setdefault("CALLER_CLAIM", "sub")
        env.setdefault(
            "SWEEPER_SAFETY_MARGIN_SECONDS", str(stack_constants.SWEEPER_SAFETY_MARGIN_SECONDS)
        )
        env.setdefault("POWERTOOLS_SERVICE_NAME", "device-fleet-local")
        env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DeviceFleetLocal")
        if not self.options.verbose:
            # Metrics would print one EMF blob per request to stdout; logs, INFO lines.
            env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
            env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        return boto3.session.Session().region_name or "us-east-1"

    def _create_tables(self) -> list[str]:
        client = boto3.session.Session().client("dynamodb")
        if not is_local(self.endpoint):
            # A real account's tables belong to the deployed stack: use them, never create.
            missing = [
                f"{table.env_var}={table_name(table.logical_name)}"
                for table in ALL_TABLES
                if not _exists(client, table_name(table.logical_name))
            ]
            if missing:
                raise StackError(
                    f"tables not found at {self.endpoint}: {', '.join(missing)}; set the "
                    "*_TABLE variables to the stack's table names (see its outputs)"
                )
            return []
        created = []
        for table in ALL_TABLES:
            name = table_name(table.logical_name)
            try:
                client.create_table(**table.create_table_kwargs(name))
                created.append(name)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceInUseException":
                    raise
                continue
            client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
            if table.ttl_attribute:
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        return created

    def _load_demo_data(self) -> None:
        keys = {table_name(t.logical_name): t.key_names() for t in ALL_TABLES}
        with BatchClient(key_schemas=keys) as batch:
            for logical, items in demo_data().items():
                batch.put_items(table_name(logical), items)

    def function(self, name: str, region: str) -> LocalFunction:
        """A function with this stack's concurrency and code reloading."""
        watcher = WATCHER if self.options.reload else None
        return local_function(name, region, self.options.concurrency, watcher)

    def _start_api(self, region: str) -> None:
        routes = [
            Route("GET", stack_constants.LIST_DEVICES_ROUTE, self.function("loader", region)),
            Route("POST", stack_constants.TRANSFER_ROUTE, self.function("transfer", region)),
        ]
        # Import now, so a broken handler fails the start; under redirect_stdout so the
        # functions' loggers write to stderr and stdout keeps only what to paste.
        with contextlib.redirect_stdout(sys.stderr):
            for route in routes:
                _ = route.function.handler
        if self.options.reload:
            WATCHER.check()  # the baseline the next changes are compared with
        host = self.options.host
        extra_hosts = frozenset() if host in LOOPBACK_HOSTS else frozenset({host})
        self.api = LocalApi(
            (host, self.options.port),
            routes,
            os.environ["CALLER_CLAIM"],
            extra={"/openapi.json": self._openapi, "/docs": self._docs},
            dev_identity=self.local_tables or self.options.dev_identity_remote,
            hosts=extra_hosts,
            gateway_timeout=self.options.api_timeout,
            socket_timeout=self.options.idle_timeout,
        )
        thread = threading.Thread(target=self.api.serve_forever, name="http-api", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _openapi(self) -> tuple[int, str, bytes]:
        document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
        if self.api is not None:
            document["servers"] = [{"url": self.api.url, "description": "local stack"}]
        return 200, "application/json", json.dumps(document, indent=2).encode()

    def _docs(self) -> tuple[int, str, bytes]:
        return 200, "text/html; charset=utf-8", DOCS_HTML.encode()

    def _start_schedules(self, region: str) -> None:
        for name, every in (
            ("sweeper", self.options.sweep_every),
            ("warmer", self.options.warm_every),
        ):
            if every > 0:
                schedule = Schedule(self.function(name, region), every, region)
                schedule.start()
                self._schedules.append(schedule)

    # -- stop -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the schedules and the HTTP API, save the state (``--state-dir``), stop the
        embedded DynamoDB; idempotent.

        Nothing waits long for a function still running: its thread is a daemon, and
        ``fleet run`` ends the process right after this, so none outlives the stop.
        """
        for schedule in self._schedules:
            schedule.stopping.set()
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
            self.api = None
        for thread in [*self._schedules, *self._threads]:
            thread.join(timeout=2)
        self._schedules.clear()
        self._threads.clear()
        try:
            self.save_state()
        finally:
            if self.moto is not None:
                self.moto.stop()
                self.moto = None
