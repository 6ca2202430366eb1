"""An import killed mid-way (SIGKILL: a crash; SIGINT: Ctrl-C) resumes: every item once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import FLEET, FleetTables

pytestmark = pytest.mark.integration

COUNT = 30_000


def write_devices(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        for i in range(COUNT):
            stream.write(json.dumps({"deviceId": f"dev-{i:06d}", "line": i + 1, "v": "x" * 40}))
            stream.write("\n")


def start_import(tables: FleetTables, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own entry point
        [
            FLEET,
            "import",
            "devices",
            str(source),
            "--chunk-size",
            "500",
            "--concurrency",
            "4",
            "--endpoint-url",
            tables.endpoint,
        ],
        env=tables.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_progress(checkpoint: Path, process: subprocess.Popen[str], at_least: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the import finished before it could be interrupted"
        try:
            read = int(json.loads(checkpoint.read_text())["read"])
        except (FileNotFoundError, ValueError, KeyError):
            read = 0
        if read >= at_least:
            return read
        time.sleep(0.02)
    raise AssertionError("no progress")


def assert_each_item_stored_once(tables: FleetTables) -> None:
    stored = tables.items("devices")
    lines = sorted(int(item["line"]) for item in stored)
    assert lines == list(range(1, COUNT + 1))
    assert all(item["deviceId"] == f"dev-{int(item['line']) - 1:06d}" for item in stored)


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)]
)
def test_interrupted_import_resumes_without_loss_or_duplicates(
    fleet_tables: FleetTables, tmp_path: Path, signum: int, exit_code: int
) -> None:
    source = tmp_path / "devices.jsonl"
    write_devices(source)
    checkpoint = Path(f"{source}.checkpoint")
    process = start_import(fleet_tables, source)

    done_before = wait_for_progress(checkpoint, process, at_least=3000)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == exit_code, stderr
    if signum == signal.SIGINT:
        assert "run the same command again to resume" in stderr
    assert done_before < COUNT
    stopped_at = json.loads(checkpoint.read_text())
    assert stopped_at["read"] < COUNT

    resumed = fleet_tables.fleet(
        "import", "devices", str(source), "--chunk-size", "500", "--concurrency", "4"
    )

    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at line {stopped_at['line']}" in resumed.stdout
    assert f"{COUNT - stopped_at['read']} read" in resumed.stdout
    assert not checkpoint.exists()
    assert_each_item_stored_once(fleet_tables)


def test_a_checkpoint_of_another_file_is_refused(fleet_tables: FleetTables, tmp_path: Path) -> None:
    source = tmp_path / "devices.jsonl"
    source.write_text('{"deviceId": "dev-1"}\n')
    checkpoint = tmp_path / "shared.checkpoint"
    checkpoint.write_text(
        json.dumps(
            {
                "input": "/elsewhere/other.jsonl",
                "table": "devices",
                "format": "jsonl",
                "offset": 0,
                "line": 1,
            }
        )
    )
    refused = fleet_tables.fleet("import", "devices", str(source), "--checkpoint", str(checkpoint))
    assert refused.returncode == 2
    assert "--restart" in refused.stderr
    assert fleet_tables.items("devices") == []
    restarted = fleet_tables.fleet(
        "import", "devices", str(source), "--checkpoint", str(checkpoint), "--restart"
    )
    assert restarted.returncode == 0
    assert fleet_tables.items("devices") == [{"deviceId": "dev-1"}]
