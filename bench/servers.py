"""Start and stop the server processes from the harness, and read what they counted.

Servers run in their own processes so that their CPU never counts as the client's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

from .responder import CONTROL_PREFIX

__all__ = ["ServerProcess", "Endpoint", "start_endpoint"]


class ServerProcess:
    """One ``python -m bench.serve`` child; it exits when this object closes its stdin."""

    def __init__(self, kind: str, *options: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", kind, *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"bench.serve {kind} did not start")
        self.port: int = json.loads(line)["port"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class Endpoint:
    """What a client talks to: a server, reached directly or through the delay proxy.

    ``url`` is where the measured clients connect; ``server_url`` reaches the server
    directly, for counters and correctness checks that must not pay the emulated latency.
    ``unprocessed_every``: the responder leaves every n-th item unprocessed (0: none).
    """

    def __init__(self, mode: str, latency_ms: float, unprocessed_every: int = 0) -> None:
        self.mode = mode
        self.latency_ms = latency_ms
        self.proxy: ServerProcess | None = None
        if mode == "client-bound":
            self.server = ServerProcess(
                "responder",
                "--latency-ms",
                str(latency_ms),
                "--unprocessed-every",
                str(unprocessed_every),
            )
        elif mode == "moto":
            self.server = ServerProcess("moto")
            if latency_ms:
                self.proxy = ServerProcess(
                    "proxy", "--target-port", str(self.server.port), "--latency-ms", str(latency_ms)
                )
        else:
            raise ValueError(f"unknown mode {mode!r}")
        self.url = (self.proxy or self.server).url
        self.server_url = self.server.url

    def _control(self, name: str, method: str, body: bytes = b"{}") -> dict[str, Any]:
        data = body if method == "POST" else None
        url = self.server_url + CONTROL_PREFIX + name  # always http://127.0.0.1
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
        return result

    def reset(self, expired_sessions: int = 0) -> None:
        """Zero the counters; the responder's expiry index then holds ``expired_sessions``."""
        self._control("reset", "POST", json.dumps({"expired_sessions": expired_sessions}).encode())

    def stats(self) -> dict[str, Any]:
        return self._control("stats", "GET")

    def close(self) -> None:
        for process in (self.proxy, self.server):
            if process is not None:
                process.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_endpoint(mode: str, latency_ms: float) -> Endpoint:
    """A running endpoint of ``mode`` ("client-bound" or "moto") with ``latency_ms`` round trip."""
    return Endpoint(mode, latency_ms)
