"""Real processes over real HTTP: the `fleet` command and moto's server.

- ``local_stack`` starts ``fleet run`` as a subprocess on free ports, reads the ports from
  what it prints, and stops it with SIGTERM (checking that nothing is left listening).
- ``dynamodb`` is moto's server on a free port in this process; each test that uses
  ``fleet_tables`` gets its own four tables (unique names, passed to the command line
  through the same DEVICES_TABLE... variables the functions read).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from dynabatch import BatchClient
from fleet.tables import ALL_TABLES

from tests.support.motoserver import moto_server

FLEET = str(Path(sys.executable).with_name("fleet"))
STARTUP_SECONDS = 60


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any AWS settings: nothing may need an AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEVICES_", "USERS_"))}
    for name in ("SESSIONS_TABLE", "IDEMPOTENCY_TABLE", "CACHE_URL"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_fleet(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run ``fleet ARGS`` to completion; returns the CompletedProcess (text)."""
    return subprocess.run(  # noqa: S603 - our own entry point
        [FLEET, *args],
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def port_open(url: str) -> bool:
    """True if something accepts connections at ``url``'s host and port."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


@dataclass
class Stack:
    """A running ``fleet run`` subprocess and where it listens."""

    process: subprocess.Popen[bytes]
    api: str
    dynamodb: str
    out: Path
    err: Path
    env: dict[str, str] = field(default_factory=dict)

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def batch(self) -> BatchClient:
        """A batch client on the stack's own DynamoDB endpoint."""
        return batch_on(self.dynamodb)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the stack, wait for it, and check its ports are closed."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        assert not port_open(self.api), "the HTTP API is still listening"
        assert not port_open(self.dynamodb), "the DynamoDB endpoint is still listening"
        return code


def batch_on(endpoint: str) -> BatchClient:
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return BatchClient(client, key_schemas={t.logical_name: t.key_names() for t in ALL_TABLES})


@contextmanager
def start_stack(workdir: Path, *flags: str) -> Iterator[Stack]:
    """``fleet run --port 0 --dynamodb-port 0 FLAGS``, stopped (SIGTERM) on exit."""
    out, err = workdir / "run.out", workdir / "run.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own entry point
            [FLEET, "run", "--port", "0", "--dynamodb-port", "0", *flags],
            stdout=stdout,
            stderr=stderr,
            env=clean_env(),
            cwd=workdir,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        text = ""
        while "Ctrl-C stops everything" not in text:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"fleet run did not start:\n{text}\n{err.read_text()}")
            time.sleep(0.1)
            text = out.read_text(encoding="utf-8")
        api = re.search(r"HTTP API\s+(http://\S+)", text)
        ddb = re.search(r"DynamoDB\s+(http://\S+)", text)
        assert api and ddb, text
        stack = Stack(process, api.group(1), ddb.group(1), out, err)
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def dynamodb() -> Iterator[str]:
    """moto's server on a free port: ``http://127.0.0.1:PORT``."""
    with moto_server() as url:
        yield url


@dataclass
class FleetTables:
    """Four fresh tables for one test, and the environment that names them."""

    endpoint: str
    names: dict[str, str]
    env: dict[str, str]
    batch: BatchClient

    def items(self, logical: str) -> list[dict[str, Any]]:
        return list(self.batch.scan(self.names[logical]))

    def fleet(self, *args: str, timeout: float = 180) -> Any:
        return run_fleet(*args, "--endpoint-url", self.endpoint, env=self.env, timeout=timeout)


@pytest.fixture
def fleet_tables(dynamodb: str) -> Iterator[FleetTables]:
    suffix = uuid.uuid4().hex[:8]
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=dynamodb,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    names = {t.logical_name: f"{t.logical_name}-{suffix}" for t in ALL_TABLES}
    for table in ALL_TABLES:
        client.create_table(**table.create_table_kwargs(names[table.logical_name]))
    env = clean_env(**{t.env_var: names[t.logical_name] for t in ALL_TABLES})
    batch = BatchClient(
        client, key_schemas={names[t.logical_name]: t.key_names() for t in ALL_TABLES}
    )
    try:
        yield FleetTables(dynamodb, names, env, batch)
    finally:
        batch.close()
        for name in names.values():
            client.delete_table(TableName=name)
