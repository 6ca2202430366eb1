"""`fleet update TABLE KEYS_FILE --set ...`: bulk partial updates, rejects, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import FleetTables

pytestmark = pytest.mark.integration


def seed(tables: FleetTables, count: int) -> None:
    tables.batch.put_items(
        tables.names["devices"],
        [
            {"deviceId": f"dev-{i:03d}", "state": ("online", "offline")[i % 2], "n": i}
            for i in range(count)
        ],
    )


def keys_file(path: Path, ids: list[str], extra: bool = False) -> Path:
    path.write_text(
        "".join(
            json.dumps({"deviceId": i, **({"name": "ignored"} if extra else {})}) + "\n"
            for i in ids
        )
    )
    return path


def states(tables: FleetTables) -> dict[str, dict[str, Any]]:
    return {d["deviceId"]: d for d in tables.items("devices")}


def test_update_sets_an_attribute_on_every_key_without_touching_the_rest(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    seed(fleet_tables, 60)
    keys = keys_file(tmp_path / "keys.jsonl", [f"dev-{i:03d}" for i in range(0, 60, 2)], True)

    result = fleet_tables.fleet(
        "update", "devices", str(keys), "--set", "state=maintenance", "--set", "level=3"
    )

    assert result.returncode == 0, result.stderr
    assert "30 keys read, 30 updated" in result.stdout
    stored = states(fleet_tables)
    assert len(stored) == 60
    for i in range(60):
        device = stored[f"dev-{i:03d}"]
        assert device["n"] == i  # untouched attributes stay
        assert "name" not in device  # the keys file's other attributes are not written
        if i % 2 == 0:
            assert (device["state"], device["level"]) == ("maintenance", 3)
        else:
            assert device["state"] == "offline" and "level" not in device


def test_failed_conditions_and_missing_items_go_to_a_rejects_keys_file(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    seed(fleet_tables, 10)
    ids = [f"dev-{i:03d}" for i in range(10)] + ["dev-999"]
    keys = keys_file(tmp_path / "keys.jsonl", ids)

    result = fleet_tables.fleet(
        "update",
        "devices",
        str(keys),
        "--set",
        "state=maintenance",
        "--if",
        "state = online",
        "--output",
        "json",
    )

    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert (answer["status"], answer["read"], answer["updated"]) == ("partial", 11, 5)
    assert (answer["condition_failed"], answer["not_found"]) == (5, 1)
    rejects = Path(answer["rejects"])
    rejected = sorted(json.loads(line)["Item"]["deviceId"]["S"] for line in rejects.open())
    assert rejected == [f"dev-{i:03d}" for i in range(1, 10, 2)] + ["dev-999"]
    stored = states(fleet_tables)
    assert "dev-999" not in stored  # no --upsert: nothing created
    assert {d["state"] for d in stored.values()} == {"maintenance", "offline"}

    # The rejects file is a keys file: without the condition they update.
    again = fleet_tables.fleet(
        "update", "devices", str(rejects), "--set", "state=maintenance", "--upsert"
    )
    assert again.returncode == 0, again.stderr
    assert {d["state"] for d in states(fleet_tables).values()} == {"maintenance"}
    assert "dev-999" in states(fleet_tables)


def test_dry_run_sends_nothing_and_bad_input_is_one_line(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    seed(fleet_tables, 4)
    keys = keys_file(tmp_path / "keys.jsonl", ["dev-000", "dev-001"])
    dry = fleet_tables.fleet("update", "devices", str(keys), "--set", "state=x", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "nothing sent" in dry.stdout
    assert {d["state"] for d in states(fleet_tables).values()} == {"online", "offline"}

    key_change = fleet_tables.fleet("update", "devices", str(keys), "--set", "deviceId=x")
    assert key_change.returncode == 2
    assert "key attribute" in key_change.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"deviceId": "dev-000"}\n{"name": "no key"}\n')
    refused = fleet_tables.fleet("update", "devices", str(bad), "--set", "state=x")
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"fleet: {bad}:2: missing key attribute 'deviceId'")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert states(fleet_tables)["dev-000"]["state"] == "x"  # the keys before it are updated
