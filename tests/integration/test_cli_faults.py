"""`fleet import` / `export` when DynamoDB refuses, throttles or is given bad numbers.

These run the command in process (``fleetcli.main.main``) against moto's server, so a
botocore event hook on the command's own client (``fleetcli.env.CLIENT_HOOKS``) can make
DynamoDB refuse items or throttle, as tests/support/recorder.py does for the batch layer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetcli import env
from fleetcli.main import main
from tests.support.recorder import Recorder

from .conftest import FleetTables

pytestmark = pytest.mark.integration


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def fleet_here(
    fleet_tables: FleetTables, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Run]:
    """Run ``fleet ARGS`` in this process against the test's tables."""
    for name, value in fleet_tables.env.items():
        if name.endswith("_TABLE"):
            monkeypatch.setenv(name, value)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": fleet_tables.endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(env, "CLIENT_HOOKS", [])

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main([*args, "--endpoint-url", fleet_tables.endpoint])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def hook(make: Callable[[Any], Recorder]) -> list[Recorder]:
    """Attach a recorder to every client the command makes; returns them."""
    made: list[Recorder] = []
    env.CLIENT_HOOKS.append(lambda client: made.append(make(client)))
    return made


def devices(count: int) -> list[dict[str, Any]]:
    return [{"deviceId": f"dev-{i:05d}", "n": i, "state": "online"} for i in range(count)]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))


def stored(tables: FleetTables) -> dict[str, dict[str, Any]]:
    return {d["deviceId"]: d for d in tables.items("devices")}


def test_a_slow_slice_does_not_hold_back_the_ones_after_it(
    fleet_here: Callable[..., Run], fleet_tables: FleetTables, tmp_path: Path
) -> None:
    # dev-00003 (first slice) is refused on its first 3 sends; the slices after it must
    # be written while it backs off, and the checkpoint must still end complete.
    refusals = {"dev-00003": 3}
    lock = threading.Lock()

    def refuse(table: str, item: dict[str, Any]) -> bool:
        key = item["deviceId"]["S"]
        with lock:
            if refusals.get(key, 0) > 0:
                refusals[key] -= 1
                return True
        return False

    recorders = hook(lambda client: Recorder(client, refuse=refuse))
    source = tmp_path / "devices.jsonl"
    write_jsonl(source, devices(400))

    result = fleet_here(
        "import", "devices", str(source), "--chunk-size", "50", "--concurrency", "4"
    )

    assert result.code == 0, result.err
    assert "400 read, 400 written, 3 retried, 0 given up" in result.out
    assert len(stored(fleet_tables)) == 400
    sent = [
        request["PutRequest"]["Item"]["deviceId"]["S"]
        for call in recorders[0].calls("BatchWriteItem")
        for requests in call["RequestItems"].values()
        for request in requests
    ]
    last_try = len(sent) - 1 - sent[::-1].index("dev-00003")
    later_slices = {key for key in sent[:last_try] if key >= "dev-00100"}
    assert later_slices, "every later slice waited for the first one's retries"


def test_items_dynamodb_keeps_refusing_resume_with_nothing_lost(
    fleet_here: Callable[..., Run], fleet_tables: FleetTables, tmp_path: Path
) -> None:
    refused = {"dev-00007", "dev-00120", "dev-00299"}
    hook(lambda client: Recorder(client, refuse=lambda t, i: i["deviceId"]["S"] in refused))
    source = tmp_path / "devices.jsonl"
    items = devices(300)
    write_jsonl(source, items)

    first = fleet_here(
        "import", "devices", str(source), "--chunk-size", "40", "--max-attempts", "2"
    )

    assert first.code == 1
    assert "300 read, 297 written, 3 retried, 3 given up" in first.out
    rejects = Path(f"{source}.rejects.jsonl")
    assert f"re-import them with: fleet import devices {rejects}" in first.out
    assert sorted(json.loads(line)["Item"]["deviceId"]["S"] for line in rejects.open()) == sorted(
        refused
    )
    assert set(stored(fleet_tables)) == {d["deviceId"] for d in items} - refused

    env.CLIENT_HOOKS.clear()  # DynamoDB takes them now
    again = fleet_here("import", "devices", str(rejects))

    assert again.code == 0, again.err
    assert sorted(stored(fleet_tables).values(), key=lambda d: d["deviceId"]) == items


def test_a_crash_while_a_slice_backs_off_resumes_from_the_watermark(
    fleet_here: Callable[..., Run], fleet_tables: FleetTables, tmp_path: Path
) -> None:
    # dev-00001 is refused until three later slices have been written; then the process
    # "dies" (KeyboardInterrupt from the client, as Ctrl-C would). The checkpoint must
    # still point at the first line, and the rerun must store everything exactly once.
    state = {"later": 0}
    lock = threading.Lock()

    def refuse_then_crash(table: str, item: dict[str, Any]) -> bool:
        # Called for every item of every request as it leaves the client.
        key = item["deviceId"]["S"]
        with lock:
            if key >= "dev-00050":
                state["later"] += 1
            if state["later"] > 3 * 25:  # three later slices of 25 sent
                raise KeyboardInterrupt
        return key == "dev-00001"

    def crash_after_later_slices(client: Any) -> Recorder:
        return Recorder(client, refuse=refuse_then_crash)

    hook(crash_after_later_slices)
    source = tmp_path / "devices.jsonl"
    items = devices(300)
    write_jsonl(source, items)

    crashed = fleet_here("import", "devices", str(source), "--chunk-size", "25")

    assert crashed.code == 130
    checkpoint = json.loads(Path(f"{source}.checkpoint").read_text())
    assert checkpoint["line"] == 1  # the watermark: dev-00000's slice never settled
    assert "dev-00001" not in stored(fleet_tables)
    assert len(stored(fleet_tables)) > 25  # later slices were written meanwhile

    env.CLIENT_HOOKS.clear()
    resumed = fleet_here("import", "devices", str(source), "--chunk-size", "25")

    assert resumed.code == 0, resumed.err
    assert "300 read, 300 written" in resumed.out
    assert sorted(stored(fleet_tables).values(), key=lambda d: d["deviceId"]) == items


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1e200", "range"),
        ("1.23456789012345678901234567890123456789", "significant digits"),
        ("-1e-200", "range"),
    ],
)
def test_a_number_dynamodb_cannot_hold_stops_at_its_line_and_the_fix_resumes(
    fleet_here: Callable[..., Run],
    fleet_tables: FleetTables,
    tmp_path: Path,
    value: str,
    problem: str,
) -> None:
    lines = [json.dumps(d) for d in devices(30)]
    lines[17] = '{"deviceId": "dev-00017", "n": NUMBER, "state": "online"}'.replace("NUMBER", value)
    source = tmp_path / "devices.jsonl"
    source.write_text("\n".join(lines) + "\n")

    failed = fleet_here("import", "devices", str(source), "--chunk-size", "5")

    assert failed.code == 2
    assert failed.err.startswith(f"fleet: {source}:18: attribute 'n': ")
    assert problem in failed.err
    assert len(failed.err.strip().splitlines()) == 1
    assert set(stored(fleet_tables)) == {f"dev-{i:05d}" for i in range(17)}

    again = fleet_here("import", "devices", str(source), "--chunk-size", "5")
    assert again.code == 2  # not fixed: the same one line, nothing else written
    assert len(stored(fleet_tables)) == 17

    lines[17] = json.dumps(devices(30)[17])
    source.write_text("\n".join(lines) + "\n")
    fixed = fleet_here("import", "devices", str(source), "--chunk-size", "5")

    assert fixed.code == 0, fixed.err
    assert "resumed at line 18" in fixed.out
    assert "13 read, 13 written" in fixed.out
    assert sorted(stored(fleet_tables).values(), key=lambda d: d["deviceId"]) == devices(30)


def test_export_throttled_past_the_retry_budget_is_one_line(
    fleet_here: Callable[..., Run], fleet_tables: FleetTables, tmp_path: Path
) -> None:
    fleet_tables.batch.put_items(fleet_tables.names["devices"], devices(10))

    def throttled(client: Any) -> Recorder:
        recorder = Recorder(client)
        recorder.errors.extend([("Scan", "ProvisionedThroughputExceededException")] * 50)
        return recorder

    hook(throttled)
    out = tmp_path / "devices.jsonl"

    result = fleet_here("export", "devices", str(out), "--max-attempts", "2", "--segments", "1")

    assert result.code == 1
    assert result.err.startswith("fleet: export devices:")
    assert len(result.err.strip().splitlines()) == 1
    assert not out.exists()
    assert not Path(f"{out}.part").exists()
