"""The table (markdown), the JSON record and the plot of one benchmark run."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynabatch import DEFAULT_CONCURRENCY

from .methods import METHODS
from .runner import Figure

__all__ = ["markdown_table", "write_json", "plot", "peer_ratio", "full_report"]

LABELS = {
    "one-call": "one call per item",
    "boto3": "boto3 batch_writer / batch_get_item",
    "threadpool": f"ThreadPoolExecutor({DEFAULT_CONCURRENCY})",
    "pynamodb": "PynamoDB",
    "aiodynamo": "aiodynamo (asyncio)",
    "dynabatch": "**dynabatch**",
    "lean": "dynabatch lean codec+wire (pieces alone)",
}


def _fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def peer_ratio(figures: Sequence[Figure], figure: Figure, peer: str = "dynabatch") -> float:
    """``figure``'s time over ``peer``'s in the same mode, latency and workload."""
    for other in figures:
        if (other.mode, other.latency_ms, other.workload, other.method) == (
            figure.mode,
            figure.latency_ms,
            figure.workload,
            peer,
        ) and other.measured:
            return figure.seconds / other.seconds
    return math.nan


def markdown_table(figures: Sequence[Figure]) -> str:
    """One row per figure; ``x dynabatch`` is how many times longer than dynabatch it took."""
    header = (
        "| mode | L ms | workload | method | median ms | items/s | requests | max in flight "
        "| client CPU ms | CPU µs/item | server CPU ms | floor ms | x floor | x dynabatch |\n"
        "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    rows = []
    for f in figures:
        label = LABELS.get(f.method, f.method)
        if not f.measured:
            rows.append(
                f"| {f.mode} | {f.latency_ms:g} | {f.workload} | {label} | {f.note} "
                "| | | | | | | | | |"
            )
            continue
        floor = f.floor
        ratio = f.seconds / floor if floor else math.nan
        rows.append(
            f"| {f.mode} | {f.latency_ms:g} | {f.workload} | {label} | {_fmt(f.seconds * 1000)} "
            f"| {_fmt(f.items_per_second, 0)} | {f.requests} | {f.max_in_flight} "
            f"| {_fmt(f.cpu_seconds * 1000)} | {_fmt(f.cpu_us_per_item)} "
            f"| {_fmt(f.server_cpu_seconds * 1000)} | {_fmt(floor * 1000)} "
            f"| {_fmt(ratio, 2)} | {_fmt(peer_ratio(figures, f), 2)} |"
        )
    return header + "\n".join(rows) + "\n"


def write_json(path: Path, figures: Sequence[Figure], extra: dict[str, Any]) -> None:
    payload = {**extra, "figures": [f.as_dict() for f in figures]}
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")


def plot(path: Path, figures: Sequence[Figure], title: str) -> None:
    """Items per second, one panel per workload, bars per method, grouped by endpoint."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a build machine
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(f.workload for f in figures))
    methods = [m for m in METHODS if any(f.method == m for f in figures)]
    if not workloads:
        return
    columns = min(3, len(workloads))
    rows = math.ceil(len(workloads) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.6 * rows), squeeze=False)
    width = 0.8 / max(1, len(methods))
    for ax, workload in zip(axes.flat, workloads, strict=False):
        group = [f for f in figures if f.workload == workload]
        endpoints = list(dict.fromkeys((f.mode, f.latency_ms) for f in group))
        for i, method in enumerate(methods):
            values = []
            for endpoint in endpoints:
                match = [
                    f for f in group if (f.mode, f.latency_ms) == endpoint and f.method == method
                ]
                values.append(match[0].items_per_second if match and match[0].measured else 0)
            xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(endpoints))]
            ax.bar(xs, values, width, label=LABELS.get(method, method).strip("*"))
        ax.set_xticks(range(len(endpoints)))
        ax.set_xticklabels([f"{m}\nL={latency:g} ms" for m, latency in endpoints], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("items / s (log)")
        ax.set_title(workload)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(workloads) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cpu_table(rows: Sequence[dict[str, Any]]) -> str:
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["method"], r["workload"]): r for r in rows}
    out = "| method | " + " | ".join(f"{w} µs/item" for w in workloads) + " |\n"
    out += "|---|" + "--:|" * len(workloads) + "\n"
    for method in methods:
        cells = [
            _fmt(by[(method, w)]["cpu_us_per_item"]) if (method, w) in by else "—"
            for w in workloads
        ]
        out += f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |\n"
    return out


def _sweep_table(rows: Sequence[dict[str, Any]]) -> str:
    out = "| what | expired sessions | peak traced memory MB | seconds | requests |\n"
    out += "|---|--:|--:|--:|--:|\n"
    for r in rows:
        out += (
            f"| {r['what']} | {r['n']:,} | {r['peak_bytes'] / 1e6:.2f} | {r['seconds']:.1f} "
            f"| {r['requests']:,} |\n"
        )
    return out


def _cold_table(cold: dict[str, Any]) -> str:
    out = (
        f"| module | import ms (median of {cold['samples']}) "
        "| over boto3 alone (median of paired differences) "
        "| heaviest imports beyond boto3 (self ms, one -X importtime run) |\n|---|--:|--:|---|\n"
    )
    for r in cold["modules"]:
        if "error" in r:
            out += f"| {r['module']} | not measured: {r['error']} | | |\n"
        else:
            heavy = ", ".join(f"{name} {ms:g}" for name, ms in r.get("heaviest", []))
            out += (
                f"| {r['module']} | {r['seconds'] * 1000:.0f} | {r['extra'] * 1000:+.0f} "
                f"| {heavy} |\n"
            )
    return out


def full_report(
    machine: dict[str, Any],
    figures: Sequence[Figure],
    cpu_rows: Sequence[dict[str, Any]],
    sweep_rows: Sequence[dict[str, Any]],
    cold: dict[str, Any] | None,
    verdicts: Sequence[dict[str, Any]],
    breakdown_rows: Sequence[dict[str, Any]] = (),
) -> str:
    """The whole run as markdown: machine, side-by-side table, CPU, sweep, cold start, targets."""
    only = f", only {','.join(machine['only'])}" if machine["only"] else ""
    parts = [
        f"# make bench ({machine['mode']}{only})\n",
        f"{machine['date']}, commit {machine['commit']}; {machine['nproc']} x {machine['cpu']}; "
        f"Python {machine['python']}; load average {machine['load_before']:.2f} before, "
        f"{machine['load_after']:.2f} after; took {machine['seconds']:.0f} s.\n",
    ]
    if figures:
        parts += [
            "## Side by side\n",
            "Mode `client-bound`: the minimal DynamoDB responder (answers after L ms, stores "
            "only keys). Mode `moto`: moto's server behind the delay proxy. Median of the "
            "warm runs; requests and in-flight counted at the server; CPU is the client "
            "process's `time.process_time`; floor = ceil(requests / concurrency) x L (a "
            "device list: one more L for its user, read before its devices); "
            "`x dynabatch` = this method's time / dynabatch's.\n",
            markdown_table(figures),
        ]
    if cpu_rows:
        parts += [
            "## Client CPU per item, network taken out\n",
            "Each client's HTTP replaced by an in-process transport (its own CPU "
            "subtracted): serialising, signing, parsing, packing and threads only. The "
            "lean row is dynabatch's codec and wire pieces alone, on one thread.\n",
            _cpu_table(cpu_rows),
        ]
    if breakdown_rows:
        from .breakdown import breakdown_table

        parts += [
            "## One item's CPU, part by part\n",
            "Thread CPU µs per item of each part, timed on its own (see bench/breakdown.py).\n",
            breakdown_table(list(breakdown_rows)),
        ]
    if sweep_rows:
        parts += [
            "## Sweep: peak memory (tracemalloc, fresh process each)\n",
            _sweep_table(sweep_rows),
        ]
    if cold:
        parts += ["## Cold start\n", _cold_table(cold)]
    if verdicts:
        parts.append("## Targets\n")
        parts.append(
            "| target | status | measured |\n|---|---|---|\n"
            + "".join(f"| {v['target']} | {v['status']} | {v['detail']} |\n" for v in verdicts)
        )
    return "\n".join(parts)
