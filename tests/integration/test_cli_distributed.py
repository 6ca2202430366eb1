"""``fleet import --distributed`` against a local endpoint: the in-process stand-in for
Step Functions, over moto's server (DynamoDB and S3 on one port), through the real command."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .conftest import FleetTables

pytestmark = pytest.mark.integration


def varied_devices(count: int) -> list[dict[str, Any]]:
    return [
        {
            "deviceId": f"dev-{i:05d}",
            "ownerId": f"user-{i % 13:04d}",
            "name": f'Lamp "{i}", hall \u2013 é',
            "level": i,
            "ratio": "0.1" if i % 2 else 0.25,
            "meta": {"tags": ["a", str(i)], "on": i % 3 == 0},
        }
        for i in range(count)
    ]


def by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["deviceId"]: i for i in items}


def test_a_file_that_imports_locally_imports_distributed_to_the_same_items(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    source = tmp_path / "devices.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in varied_devices(1200)))

    # Given the file imported distributed (uploaded, batched, written by 3 workers)
    result = fleet_tables.fleet(
        "import", "devices", str(source), "--distributed", "--map-concurrency", "3"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "local stand-in for Step Functions): 1200 items: 1200 written, 0 given up" in result.stdout
    )
    distributed = by_key(fleet_tables.items("devices"))

    # When the table is emptied and the same file imported on one machine
    fleet_tables.batch.delete_items(
        fleet_tables.names["devices"], [{"deviceId": k} for k in distributed]
    )
    result = fleet_tables.fleet("import", "devices", str(source))
    assert result.returncode == 0, result.stderr

    # Then both stored exactly the same items
    local = by_key(fleet_tables.items("devices"))
    assert len(local) == 1200 and distributed == local
    assert local["dev-00002"]["ratio"] == Decimal("0.25") and local["dev-00003"]["ratio"] == "0.1"


def test_running_the_same_command_again_writes_nothing_twice(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    source = tmp_path / "devices.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in varied_devices(300)))
    first = fleet_tables.fleet("import", "devices", str(source), "--distributed")
    assert first.returncode == 0, first.stderr
    # Items changed since the first run show whether the rerun wrote them again
    fleet_tables.batch.put_items(
        fleet_tables.names["devices"], [{"deviceId": "dev-00007", "name": "renamed"}]
    )

    again = fleet_tables.fleet("import", "devices", str(source), "--distributed")

    assert again.returncode == 0, again.stderr
    assert by_key(fleet_tables.items("devices"))["dev-00007"] == {
        "deviceId": "dev-00007",
        "name": "renamed",
    }


def test_bad_input_is_named_and_nothing_is_uploaded_or_written(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    source = tmp_path / "devices.jsonl"
    lines = [json.dumps(d) for d in varied_devices(10)]
    lines[6] = json.dumps({"name": "no key"})
    source.write_text("\n".join(lines) + "\n")

    result = fleet_tables.fleet("import", "devices", str(source), "--distributed")

    assert result.returncode == 2
    assert f"{source}:7: missing key attribute 'deviceId'" in result.stderr
    assert "nothing was uploaded or written" in result.stderr
    assert fleet_tables.items("devices") == []
