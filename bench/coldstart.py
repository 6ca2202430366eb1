"""Cold start: what importing each handler costs over importing boto3 alone.

Each sample is a fresh interpreter (``-X importtime`` off, bytecode cached as Lambda has
it after the first load) timing ``import`` with ``perf_counter``; the figure is the median.
A handler whose module is not there yet, or fails to import, is reported as such.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from typing import Any

__all__ = ["HANDLERS", "measure_cold_starts"]

HANDLERS = (
    "fleet.handlers.loader",
    "fleet.handlers.transfer",
    "fleet.handlers.warmer",
    "fleet.handlers.sweeper",
)

_PROBE = (
    "import time, importlib, sys\n"
    "t = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(time.perf_counter() - t)\n"
)

#: What a deployed function finds in its environment (names only; nothing is called).
LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold-start-probe",
    "AWS_SECRET_ACCESS_KEY": "cold-start-probe",
    "DEVICES_TABLE": "devices",
    "USERS_TABLE": "users",
    "SESSIONS_TABLE": "sessions",
    "IDEMPOTENCY_TABLE": "idempotency",
    "POWERTOOLS_SERVICE_NAME": "device-fleet",
    "POWERTOOLS_METRICS_NAMESPACE": "DeviceFleet",
}


def _sample(module: str) -> float:
    env = {**os.environ, **LAMBDA_ENV}
    # Lambda keeps the bytecode the package was built with: let the cache be written.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _import_times(module: str) -> dict[str, int]:
    """Self time (µs) of every module ``import module`` loads, from ``-X importtime``."""
    env = {**os.environ, **LAMBDA_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    times: dict[str, int] = {}
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            times[match.group(2)] = int(match.group(1))
    return times


def heaviest_extras(module: str, baseline: dict[str, int], top: int = 5) -> list[list[Any]]:
    """The top-level packages ``module`` imports beyond boto3, heaviest first (ms)."""
    by_package: dict[str, int] = {}
    for name, micros in _import_times(module).items():
        if name not in baseline:
            package = name.split(".")[0]
            by_package[package] = by_package.get(package, 0) + micros
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
    return [[package, round(micros / 1000, 1)] for package, micros in ranked]


def _importable(module: str) -> str | None:
    """None when ``module`` imports (writing its bytecode caches); else the error's last line."""
    try:
        _sample(module)
    except subprocess.CalledProcessError as error:
        lines: list[str] = str(error.stderr).strip().splitlines() or ["failed"]
        return lines[-1]
    return None


def measure_cold_starts(samples: int = 7, log: Any = print) -> dict[str, Any]:
    """Median import seconds of boto3 and of each handler, and each handler's extra.

    Samples are taken in rounds (boto3, then each module) and a module's extra is the
    median of its differences from the boto3 sample of the same round, so that a busy
    moment on a shared machine shifts both sides of a difference alike.
    """
    _sample("boto3")  # first run writes bytecode caches; not counted
    boto3_imports = _import_times("boto3")
    rows: list[dict[str, Any]] = []
    modules = []
    for module in ("dynabatch", *HANDLERS):
        error = _importable(module)
        if error is None:
            modules.append(module)
        else:
            rows.append({"module": module, "error": error})
            log(f"  import {module}: not measured ({error})")
    base: list[float] = []
    times: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(samples):
        base.append(_sample("boto3"))
        for module in modules:
            times[module].append(_sample(module))
    baseline = statistics.median(base)
    log(f"  import boto3: {baseline * 1000:.0f} ms")
    measured = [{"module": "boto3", "seconds": baseline, "extra": 0.0}]
    for module in modules:
        extra = statistics.median(t - b for t, b in zip(times[module], base, strict=True))
        seconds = statistics.median(times[module])
        measured.append(
            {
                "module": module,
                "seconds": seconds,
                "extra": extra,
                "heaviest": heaviest_extras(module, boto3_imports),
            }
        )
        log(f"  import {module}: {seconds * 1000:.0f} ms ({extra * 1000:+.0f} ms over boto3)")
    return {"samples": samples, "modules": measured + rows}
