"""Client CPU per item with the network taken out: the library's own work, nothing else.

On this kind of machine (a small VM) every blocking wait is charged to the waiting
process as CPU when it wakes (about 60-100 µs a wait, measured with a bare ``select``),
so CPU taken over a real socket mixes the library's work with the host's wake-up cost,
and more so the more threads wait. Here each botocore client's HTTP session is replaced
by an in-process transport that answers from :class:`FakeDynamo`: signing, serialising,
parsing, the batch layer's packing and threads all run for real; the transport's own CPU
(its JSON work, measured per thread) is subtracted.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.awsrequest import AWSResponse

from .methods import build_methods
from .responder import TARGET_PREFIX, FakeDynamo
from .workloads import DEVICE_TABLE, WORKLOADS, Workload, device, device_key

__all__ = ["StubTransport", "measure_cpu"]

UNREACHABLE = "http://127.0.0.1:9"  # never contacted: the transport answers first


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class StubTransport:
    """Stands in for ``URLLib3Session.send``; counts requests and its own CPU time."""

    def __init__(self, dynamo: FakeDynamo | None = None) -> None:
        self.dynamo = dynamo or FakeDynamo()
        self._lock = threading.Lock()
        self.cpu = 0.0
        self.requests = 0

    def start(self, request: Any) -> AWSResponse:
        """The non-blocking form (the lean wire multiplexes with it): answered at once."""
        return self.send(request)

    def install(self, client: Any) -> None:
        client._endpoint.http_session.send = self.send

    def send(self, request: Any) -> AWSResponse:
        started = time.thread_time()
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).removeprefix(
            TARGET_PREFIX
        )
        status, data = self.dynamo.respond(operation, request.body)
        headers = {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(data))}
        response = AWSResponse(request.url, status, headers, _Raw(data))
        with self._lock:
            self.cpu += time.thread_time() - started
            self.requests += 1
        return response


def measure_cpu(
    methods: Sequence[str],
    workloads: Sequence[str | Workload],
    repeats: int = 3,
    log: Any = print,
) -> list[dict[str, Any]]:
    """Median client CPU µs per item of each method and workload, transport excluded."""
    built = build_methods(UNREACHABLE, methods)
    transport = StubTransport()
    rows = []
    try:
        for method in built.values():
            if hasattr(method, "model"):
                method.model(DEVICE_TABLE)
            method.use_transport(transport)
            method.read(DEVICE_TABLE, [device_key(i) for i in range(20)])  # warm
            method.write(DEVICE_TABLE, [device(i) for i in range(50)])
        for wanted in workloads:
            workload = WORKLOADS[wanted] if isinstance(wanted, str) else wanted
            workload_name = workload.name
            if workload.kind == "read":
                data: list[Any] = [device_key(i) for i in range(workload.n)]
            else:
                data = [device(i) for i in range(workload.n)]
            # Rounds interleave the methods, so that a slow spell of this (shared, noisy)
            # machine falls on every method alike rather than on one method's runs.
            samples: dict[str, list[float]] = {name: [] for name in built}
            requests: dict[str, int] = {}
            for _ in range(repeats):
                for name, method in built.items():
                    # Each run starts with no garbage left by another method: the garbage
                    # a run makes, it collects on its own clock. The first call after a
                    # full collection costs every method ~350 µs more (memory handed back
                    # is taken again): an untimed run of the same call takes that, so a
                    # 50-item read measures the read, not the collector.
                    gc.collect()
                    _run(method, workload.kind, data)
                    transport.cpu = 0.0
                    transport.requests = 0
                    cpu = time.process_time()
                    _run(method, workload.kind, data)
                    cpu = time.process_time() - cpu - transport.cpu
                    samples[name].append(cpu / workload.n * 1e6)
                    requests[name] = transport.requests
            for name, method in built.items():
                row = {
                    "method": name,
                    "workload": workload_name,
                    "cpu_us_per_item": statistics.median(samples[name]),
                    "requests": requests[name],
                    "samples": samples[name],
                }
                log(f"  CPU {workload.short} {method.name}: {row['cpu_us_per_item']:.1f} µs/item")
                rows.append(row)
    finally:
        for method in built.values():
            method.close()
    return rows


def _run(method: Any, kind: str, data: list[Any]) -> None:
    if kind == "read":
        method.read(DEVICE_TABLE, data)
    else:
        method.write(DEVICE_TABLE, data)
