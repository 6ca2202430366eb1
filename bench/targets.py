"""The targets, read off the figures of one run (never asserted in a test).

The first round's (a device list, a bulk write, CPU budgets, memory, cold start) and the
best-in-class round's: the least client CPU per item of every method, with and without
the network, and the fastest method in every cell of the side-by-side table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dynabatch import DEFAULT_CONCURRENCY

from .runner import Figure

__all__ = ["check_targets"]


def _find(
    figures: Sequence[Figure], mode: str, latency: float, workload: str, method: str
) -> Figure | None:
    for f in figures:
        if (f.mode, f.latency_ms, f.workload, f.method) == (mode, latency, workload, method):
            return f if f.measured else None
    return None


def _verdict(name: str, met: bool | None, detail: str) -> dict[str, Any]:
    status = "not measured" if met is None else ("met" if met else "MISSED")
    return {"target": name, "status": status, "detail": detail}


def _device_list(figures: Sequence[Figure], mode: str) -> dict[str, Any]:
    # As the spec counts it: the user read, then the batch rounds of its devices.
    name = (
        f"device list of 50 at L=20 ({mode}): >= 10x one GetItem per device, <= 1.3x floor "
        "(user read + batch rounds)"
    )
    ours = _find(figures, mode, 20, "devicelist50", "dynabatch")
    single = _find(figures, mode, 20, "devicelist50", "one-call")
    if ours is None or single is None:
        return _verdict(name, None, "")
    speedup = single.seconds / ours.seconds
    to_floor = ours.seconds / ours.floor if ours.floor else math.nan
    return _verdict(
        name,
        speedup >= 10 and to_floor <= 1.3,
        f"{speedup:.1f}x faster than one call per item; {to_floor:.2f}x the floor "
        f"({ours.seconds * 1000:.1f} ms vs {ours.floor * 1000:.0f} ms)",
    )


def _bulk_write(figures: Sequence[Figure]) -> dict[str, Any]:
    name = (
        "10,000 writes at L=20 (client-bound): >= 8x batch_writer, <= 1.5x floor, "
        f"ahead of ThreadPoolExecutor({DEFAULT_CONCURRENCY})"
    )
    ours = _find(figures, "client-bound", 20, "write10000", "dynabatch")
    writer = _find(figures, "client-bound", 20, "write10000", "boto3")
    pool = _find(figures, "client-bound", 20, "write10000", "threadpool")
    if ours is None or writer is None or pool is None:
        return _verdict(name, None, "")
    speedup = writer.seconds / ours.seconds
    to_floor = ours.seconds / ours.floor
    ahead = pool.seconds / ours.seconds
    return _verdict(
        name,
        speedup >= 8 and to_floor <= 1.5 and ahead > 1,
        f"{speedup:.1f}x faster than batch_writer; {to_floor:.2f}x the floor "
        f"({ours.seconds * 1000:.0f} ms vs {ours.floor * 1000:.0f} ms); "
        f"{ahead:.2f}x faster than ThreadPoolExecutor({DEFAULT_CONCURRENCY})",
    )


#: The peers (not one call per item: it is the baseline, never a way to do bulk work).
PEERS = ("boto3", "threadpool", "pynamodb", "aiodynamo")


def _best_in_class_cpu(cpu_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """No network: at or below aiodynamo's CPU per item, below every other peer, and at
    most 0.25x botocore's with validation off (the ThreadPoolExecutor peer's client)."""
    by = {(r["method"], r["workload"]): r["cpu_us_per_item"] for r in cpu_rows}
    verdicts = []
    for workload in dict.fromkeys(r["workload"] for r in cpu_rows):
        name = f"client CPU per item, no network ({workload}): <= aiodynamo, < every peer"
        ours = by.get(("dynabatch", workload))
        peers = {p: by[(p, workload)] for p in PEERS if (p, workload) in by}
        if ours is None or "aiodynamo" not in peers:
            verdicts.append(_verdict(name, None, ""))
            continue
        botocore = peers.get("threadpool", math.nan)
        best = min(peers, key=peers.__getitem__)
        met = ours <= peers["aiodynamo"] and all(ours < v for p, v in peers.items())
        verdicts.append(
            _verdict(
                name,
                met and ours <= 0.25 * botocore,
                f"dynabatch {ours:.1f} µs/item; aiodynamo {peers['aiodynamo']:.1f}; best "
                f"peer {best} {peers[best]:.1f}; {ours / botocore:.2f}x botocore "
                "(validation off)",
            )
        )
    return verdicts


def _fastest_everywhere(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """Every cell: fastest and least CPU per item; client-bound with 1,000 items or
    more (the endpoint not the bottleneck): at least 1.2x ahead of the best peer."""
    cells = dict.fromkeys((f.mode, f.latency_ms, f.workload) for f in figures)
    verdicts = []
    for mode, latency, workload in cells:
        ours = _find(figures, mode, latency, workload, "dynabatch")
        peers = [f for p in PEERS if (f := _find(figures, mode, latency, workload, p))]
        if ours is None or not peers:
            continue
        fastest = min(peers, key=lambda f: f.seconds)
        leanest = min(peers, key=lambda f: f.cpu_us_per_item)
        ahead = fastest.seconds / ours.seconds
        wanted = 1.2 if mode == "client-bound" and ours.n >= 1000 else 1.0
        name = (
            f"{mode} L={latency:g} {workload}: fastest (x{wanted:g} ahead of the best peer) "
            "and least client CPU"
        )
        verdicts.append(
            _verdict(
                name,
                ahead >= wanted and ours.cpu_us_per_item < leanest.cpu_us_per_item,
                f"{ahead:.2f}x ahead of {fastest.method} ({ours.seconds * 1000:.1f} vs "
                f"{fastest.seconds * 1000:.1f} ms); CPU {ours.cpu_us_per_item:.1f} µs/item vs "
                f"{leanest.method} {leanest.cpu_us_per_item:.1f}",
            )
        )
    return verdicts


def _near_floor(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    verdicts = []
    for workload, limit in (("write10000", 1.3), ("read1000", 1.5)):
        name = f"{workload} at L=20 (client-bound): <= {limit}x the round-trip floor"
        ours = _find(figures, "client-bound", 20, workload, "dynabatch")
        if ours is None or not ours.floor:
            verdicts.append(_verdict(name, None, ""))
            continue
        ratio = ours.seconds / ours.floor
        verdicts.append(
            _verdict(
                name,
                ratio <= limit,
                f"{ratio:.2f}x ({ours.seconds * 1000:.1f} ms vs {ours.floor * 1000:.0f} ms)",
            )
        )
    return verdicts


def _cpu(cpu_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    verdicts = []
    by = {(r["method"], r["workload"]): r["cpu_us_per_item"] for r in cpu_rows}
    for workload, kind in (("write10000", "written"), ("read1000", "read")):
        name = f"client CPU per item {kind} ({workload}, no network): <= 30 µs and below boto3's"
        ours, boto = by.get(("dynabatch", workload)), by.get(("boto3", workload))
        if ours is None or boto is None:
            verdicts.append(_verdict(name, None, ""))
            continue
        verdicts.append(
            _verdict(
                name,
                ours <= 30 and ours < boto,
                f"dynabatch {ours:.1f} µs/item, boto3 {boto:.1f} µs/item "
                f"({ours / 30:.1f}x the 30 µs budget, {ours / boto:.2f}x boto3)",
            )
        )
    return verdicts


def _sweep(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    verdicts = []
    for what in dict.fromkeys(r["what"] for r in rows):
        peaks = {r["n"]: r["peak_bytes"] for r in rows if r["what"] == what}
        name = f"sweep ({what}): peak memory flat within 10% from 10,000 to 100,000"
        if 10_000 not in peaks or 100_000 not in peaks:
            verdicts.append(_verdict(name, None, ""))
            continue
        growth = peaks[100_000] / peaks[10_000]
        verdicts.append(
            _verdict(
                name,
                growth <= 1.10,
                f"{peaks[10_000] / 1e6:.2f} MB -> {peaks[100_000] / 1e6:.2f} MB "
                f"({(growth - 1) * 100:+.0f}%)",
            )
        )
    return verdicts


def _cold(cold: dict[str, Any] | None) -> list[dict[str, Any]]:
    verdicts = []
    for row in (cold or {}).get("modules", []):
        if not row["module"].startswith("fleet.handlers."):
            continue
        name = f"cold start {row['module']}: <= 100 ms over boto3 alone"
        if "error" in row:
            verdicts.append(_verdict(name, None, row["error"]))
        else:
            extra = row["extra"] * 1000
            verdicts.append(_verdict(name, extra <= 100, f"+{extra:.0f} ms"))
    return verdicts


def check_targets(
    figures: Sequence[Figure],
    cpu_rows: Sequence[dict[str, Any]],
    sweep_rows: Sequence[dict[str, Any]],
    cold: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """One verdict per target: ``met``, ``MISSED`` (by how much in ``detail``), ``not measured``."""
    return [
        _device_list(figures, "client-bound"),
        _device_list(figures, "moto"),
        _bulk_write(figures),
        *_cpu(cpu_rows),
        *_best_in_class_cpu(cpu_rows),
        *_fastest_everywhere(figures),
        *_near_floor(figures),
        *_sweep(sweep_rows),
        *_cold(cold),
    ]
