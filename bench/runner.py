"""Run every method over every workload at every endpoint, warm, and count what happened.

Each figure is the median of ``repeats`` warm runs, taken round by round (every method
once per round) so that a slow drift of the machine or the server is shared. Around each
run the client process's CPU time (``time.process_time``, all its threads) and wall time
are taken; requests and requests in flight are read from the server's own counters.
Every run is checked: a read returns every item asked for, a write leaves exactly the
items sent in the table.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
import dynabatch

from .methods import Method, build_methods
from .servers import Endpoint
from .workloads import (
    DEVICE_TABLE,
    USER_KEY,
    USER_TABLE,
    WRITE_TABLE,
    Workload,
    device,
    device_key,
    user_item,
)

__all__ = ["Figure", "Plan", "run_plan"]

Log = Callable[[str], None]


@dataclass
class Figure:
    """One row of the table."""

    mode: str
    latency_ms: float
    workload: str
    method: str
    n: int
    concurrency: int
    seconds: float = math.nan
    runs: list[float] = field(default_factory=list)
    requests: int = 0
    max_in_flight: int = 0
    connections: int | None = None
    cpu_seconds: float = math.nan
    server_cpu_seconds: float = math.nan
    note: str = ""
    #: Requests each run sends one after another before its batch (a device list's user).
    lead_requests: int = 0

    @property
    def items_per_second(self) -> float:
        return self.n / self.seconds if self.seconds else math.nan

    @property
    def cpu_us_per_item(self) -> float:
        return self.cpu_seconds / self.n * 1e6

    @property
    def floor(self) -> float:
        """The round-trip floor: lead requests + ceil(batch requests / concurrency), x L."""
        lead = self.lead_requests
        rounds = lead + math.ceil(max(0, self.requests - lead) / self.concurrency)
        return rounds * self.latency_ms / 1000

    @property
    def measured(self) -> bool:
        return not math.isnan(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            items_per_second=self.items_per_second,
            cpu_us_per_item=self.cpu_us_per_item,
            floor_seconds=self.floor,
        )
        return data


@dataclass
class Plan:
    """What to run. ``one_call_budget``: seconds one run of one-call-per-item may take."""

    modes: Sequence[str]
    latencies: dict[str, Sequence[float]]
    workloads: dict[str, Sequence[Workload]]
    methods: Sequence[str]
    repeats: int = 3
    one_call_budget: float = 3.0


class _Table:
    """Where one run's writes land, and the check that every item arrived."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.direct = boto3.session.Session().client("dynamodb", endpoint_url=endpoint.server_url)
        self.exists = False

    def fresh(self) -> str:
        """An empty table for one run's writes (moto: dropped and made again)."""
        if self.endpoint.mode != "moto":
            return DEVICE_TABLE  # the responder keeps only keys, reset before each run
        # Always the same name, so no method pays a DescribeTable for a table it never saw.
        if self.exists:
            self.direct.delete_table(TableName=WRITE_TABLE)
        self.direct.create_table(
            TableName=WRITE_TABLE,
            KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.exists = True
        return WRITE_TABLE

    def stored(self, name: str, stats: dict[str, Any]) -> int:
        if self.endpoint.mode != "moto":
            return int(stats["stored"].get(name, 0))
        total, start = 0, None
        while True:
            page = self.direct.scan(
                TableName=name, Select="COUNT", **({"ExclusiveStartKey": start} if start else {})
            )
            total += int(page["Count"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return total


def _seed(endpoint: Endpoint, n: int, listed: int) -> None:
    """Devices ``0 .. n-1`` and the user whose list is the first ``listed`` (moto; the
    responder makes items up)."""
    if endpoint.mode != "moto":
        return
    table = _Table(endpoint)
    for name, key in ((DEVICE_TABLE, "deviceId"), (USER_TABLE, "userId")):
        table.direct.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    with dynabatch.BatchClient(table.direct, concurrency=4) as batch:
        batch.put_items(DEVICE_TABLE, [device(i) for i in range(n)])
        batch.put_items(USER_TABLE, [user_item(listed)])


def _one_run(
    endpoint: Endpoint, tables: _Table, method: Method, workload: Workload, data: list[Any]
) -> tuple[float, float, dict[str, Any]]:
    table = tables.fresh() if workload.kind == "write" else DEVICE_TABLE
    gc.collect()
    endpoint.reset()
    server_cpu = endpoint.stats()["server_cpu"]
    cpu, wall = time.process_time(), time.perf_counter()
    if workload.kind == "list":
        got = method.list_devices(USER_TABLE, USER_KEY, table, data)
    elif workload.kind == "read":
        got = method.read(table, data)
    else:
        method.write(table, data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = endpoint.stats()
    stats["server_cpu"] -= server_cpu
    if workload.kind == "write":
        got = tables.stored(table, stats)
    if got != workload.n:
        raise AssertionError(f"{method.name} {workload.short}: {got} items, expected {workload.n}")
    return wall, cpu, stats


def _figure(
    endpoint: Endpoint,
    name: str,
    method: Method,
    workload: Workload,
    runs: list[tuple[float, float, dict[str, Any]]],
) -> Figure:
    figure = Figure(
        endpoint.mode, endpoint.latency_ms, workload.name, name, workload.n, method.concurrency
    )
    figure.lead_requests = workload.lead_requests
    figure.runs = [wall for wall, _, _ in runs]
    figure.seconds = statistics.median(figure.runs)
    figure.cpu_seconds = statistics.median(cpu for _, cpu, _ in runs)
    figure.server_cpu_seconds = statistics.median(s["server_cpu"] for _, _, s in runs)
    figure.requests = round(statistics.median(s["total_requests"] for _, _, s in runs))
    figure.max_in_flight = max(s["max_in_flight"] for _, _, s in runs)
    if endpoint.mode == "client-bound":
        figure.connections = max(s["connections"] for _, _, s in runs)
    return figure


def _estimate(name: str, workload: Workload, latency_ms: float, mode: str) -> float:
    """A rough wall time of one run, to keep one-call-per-item within its budget."""
    per_call = latency_ms / 1000 + (0.004 if mode == "moto" else 0.0015)
    return (workload.n + workload.lead_requests) * per_call if name == "one-call" else 0.0


def run_plan(plan: Plan, log: Log = print) -> list[Figure]:
    """Measure everything in ``plan``; figures come back in table order."""
    figures: list[Figure] = []
    for mode in plan.modes:
        for latency in plan.latencies[mode]:
            workloads = plan.workloads[mode]
            with Endpoint(mode, latency) as endpoint:
                _seed(
                    endpoint,
                    max((w.n for w in workloads if w.kind != "write"), default=0),
                    max((w.n for w in workloads if w.kind == "list"), default=0),
                )
                methods = build_methods(endpoint.url, plan.methods)
                tables = _Table(endpoint)
                try:
                    _warm(endpoint, tables, methods)
                    figures.extend(_run_endpoint(plan, endpoint, tables, methods, workloads, log))
                finally:
                    for method in methods.values():
                        method.close()
    return figures


def _warm(endpoint: Endpoint, tables: _Table, methods: dict[str, Method]) -> None:
    # Opens each method's connections and imports its code paths before anything counts.
    keys = [device_key(i) for i in range(20)]
    items = [device(i) for i in range(50)]
    for method in methods.values():
        method.list_devices(USER_TABLE, USER_KEY, DEVICE_TABLE, keys)
        table = tables.fresh()
        method.write(table, items)
        tables.stored(table, endpoint.stats())


def _run_endpoint(
    plan: Plan,
    endpoint: Endpoint,
    tables: _Table,
    methods: dict[str, Method],
    workloads: Iterable[Workload],
    log: Log,
) -> list[Figure]:
    figures = []
    for workload in workloads:
        if workload.kind != "write":
            data = [device_key(i) for i in range(workload.n)]
        else:
            data = [device(i) for i in range(workload.n)]
        measured = {
            name: method
            for name, method in methods.items()
            if _estimate(name, workload, endpoint.latency_ms, endpoint.mode) <= plan.one_call_budget
        }
        # Round by round, every method once: a drift of the machine or of the server (its
        # tables grow, a collection lands) spreads over all methods instead of one.
        runs: dict[str, list[tuple[float, float, dict[str, Any]]]] = {n: [] for n in measured}
        for _ in range(plan.repeats):
            for name, method in measured.items():
                runs[name].append(_one_run(endpoint, tables, method, workload, data))
        for name, method in methods.items():
            label = f"{endpoint.mode} L={endpoint.latency_ms:g} {workload.short} {method.name}"
            if name not in measured:
                figure = Figure(
                    endpoint.mode, endpoint.latency_ms, workload.name, name, workload.n, 1
                )
                figure.note = "skipped: one call per item would take too long"
                log(f"  {label}: skipped")
            else:
                figure = _figure(endpoint, name, method, workload, runs[name])
                log(
                    f"  {label}: {figure.seconds * 1000:.1f} ms, {figure.requests} requests, "
                    f"{figure.cpu_us_per_item:.0f} us CPU/item"
                )
            figures.append(figure)
    return figures
