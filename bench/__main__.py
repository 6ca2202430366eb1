"""``python -m bench``: run the benchmark, print the table, write bench/results/.

    python -m bench                 # quick: L = 0 and 20 ms, 5 runs a figure (< 10 min)
    python -m bench --full          # L = 0, 20 and 50 ms, every workload in both modes, 5 runs
    python -m bench --only read50,sweep

Workloads for ``--only``: devicelist50 read50 read100 read1000 write1000 write10000 (the
side-by-side table), cpu (CPU per item without the network), breakdown (one item's CPU part by
part), sweep, coldstart.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .workloads import WORKLOADS

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = (*WORKLOADS, "cpu", "breakdown", "sweep", "coldstart")
METHOD_ORDER = ["one-call", "boto3", "threadpool", "pynamodb", "aiodynamo", "dynabatch"]
#: The CPU table adds dynabatch's lean codec+wire pieces alone: the integration's target.
CPU_METHODS = [*METHOD_ORDER, "dynabatch-botocore", "lean"]


def _machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": os.getloadavg()[0],
        "commit": _git_head(),
    }


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the default: L = 0 and 20 ms")
    size.add_argument("--full", action="store_true", help="L = 0, 20 and 50 ms, all workloads")
    parser.add_argument("--only", default="", help=f"comma list of: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (min 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown --only {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def _plan(args: argparse.Namespace) -> Any:
    from .runner import Plan

    def wanted(names: list[str]) -> list[Any]:
        return [WORKLOADS[n] for n in names if not args.only or n in args.only]

    if args.full:
        every = list(WORKLOADS)
        return Plan(
            modes=["client-bound", "moto"],
            latencies={"client-bound": [0, 20, 50], "moto": [0, 20, 50]},
            workloads={"client-bound": wanted(every), "moto": wanted(every)},
            methods=METHOD_ORDER,
            repeats=max(3, args.repeats or 5),
            one_call_budget=30.0,
        )
    return Plan(
        modes=["client-bound", "moto"],
        latencies={"client-bound": [0, 20], "moto": [0, 20]},
        workloads={
            "client-bound": wanted(list(WORKLOADS)),
            "moto": wanted(["devicelist50", "read50", "read1000", "write1000"]),
        },
        methods=METHOD_ORDER,
        repeats=max(3, args.repeats or 5),
        one_call_budget=5.0,
    )


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    # The benchmark only ever talks to servers it starts on 127.0.0.1: fixed, fake credentials.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)

    from . import report
    from .breakdown import measure_breakdown
    from .coldstart import measure_cold_starts
    from .cpuprobe import measure_cpu
    from .runner import run_plan
    from .sweep import measure_sweeps
    from .targets import check_targets

    started = time.perf_counter()
    machine = _machine()

    def run(section: str) -> bool:
        return not args.only or section in args.only

    print(
        f"bench ({'full' if args.full else 'quick'}) on {machine['cpu']}, {machine['nproc']} "
        f"CPUs, Python {machine['python']}, load {machine['load_before']:.2f}",
        flush=True,
    )

    plan = _plan(args)
    figures = run_plan(plan, log=lambda line: print(line, flush=True))
    cpu_rows: list[dict[str, Any]] = []
    if run("cpu"):
        cpu_workloads = ["read50", "read1000", "write1000", "write10000"]
        # Cheap runs and a noisy figure: more of them than the side-by-side table takes.
        cpu_rows = measure_cpu(CPU_METHODS, cpu_workloads, max(7, plan.repeats), log=print)
    breakdown_rows: list[dict[str, Any]] = []
    if run("breakdown"):
        breakdown_rows = measure_breakdown(log=print)
    sweep_rows: list[dict[str, Any]] = []
    if run("sweep"):
        sweep_rows = measure_sweeps([1_000, 10_000, 100_000], ["keys", "sweeper"], log=print)
    cold = measure_cold_starts(9 if args.full else 5, log=print) if run("coldstart") else None

    machine["load_after"] = os.getloadavg()[0]
    machine["seconds"] = round(time.perf_counter() - started, 1)
    machine["mode"] = "full" if args.full else "quick"
    machine["only"] = args.only
    verdicts = check_targets(figures, cpu_rows, sweep_rows, cold)
    text = report.full_report(
        machine, figures, cpu_rows, sweep_rows, cold, verdicts, breakdown_rows
    )
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    # A partial run must not overwrite the committed results of a whole one.
    stem = "partial" if args.only else "latest"
    (args.out / f"{stem}.md").write_text(text)
    report.write_json(
        args.out / f"{stem}.json",
        figures,
        {
            "machine": machine,
            "cpu": cpu_rows,
            "breakdown": breakdown_rows,
            "sweep": sweep_rows,
            "coldstart": cold,
            "targets": verdicts,
        },
    )
    if figures:
        report.plot(args.out / f"{stem}.png", figures, _title(machine))
    print(f"wrote {args.out}/{stem}.md, .json, .png in {machine['seconds']:.0f} s")
    if not args.only and args.out.resolve() == RESULTS:
        _update_docs(text)
    return 0


def _update_docs(text: str) -> None:
    """Put the latest results between the markers of docs/bench.md, if it has them."""
    docs = RESULTS.parent.parent / "docs" / "bench.md"
    start, end = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"
    try:
        current = docs.read_text()
    except OSError:
        return
    if start not in current or end not in current:
        return
    body = text.replace("# make bench", "### make bench", 1).replace("\n## ", "\n#### ")
    head, rest = current.split(start, 1)
    _, tail = rest.split(end, 1)
    docs.write_text(f"{head}{start}\n{body}\n{end}{tail}")
    print(f"updated {docs}")


def _title(machine: dict[str, Any]) -> str:
    return (
        f"make bench ({machine['mode']}), {machine['date']}: items/s, higher is better; "
        f"{machine['nproc']} x {machine['cpu']}, Python {machine['python']}"
    )


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
