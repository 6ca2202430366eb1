"""`fleet import` / `fleet export`: every format, the types that matter, bad input, rejects."""

from __future__ import annotations

import base64
import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fleet.sessions import expiry_shard

from .conftest import FleetTables

pytestmark = pytest.mark.integration

N = 10_000


def devices(count: int) -> list[dict[str, Any]]:
    # Names with commas, quotes, a newline and non-ASCII: what breaks naive CSV and JSON.
    return [
        {
            "deviceId": f"dev-{i:06d}",
            "ownerId": f"user-{i % 97:04d}",
            "name": f'Lamp "{i}", hall\nfloor {i % 7} \u2013 é',
            "state": ("online", "offline")[i % 2],
            "lastUpdate": f"2026-01-{1 + i % 28:02d}T12:00:00Z",
        }
        for i in range(count)
    ]


def write_input(path: Path, fmt: str, items: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        if fmt == "jsonl":
            stream.writelines(json.dumps(item) + "\n" for item in items)
        elif fmt == "json":
            json.dump(items, stream, indent=1)
        else:
            writer = csv.DictWriter(stream, fieldnames=list(items[0]))
            writer.writeheader()
            writer.writerows(items)


def read_output(path: Path, fmt: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as stream:
        if fmt == "jsonl":
            return [json.loads(line) for line in stream]
        if fmt == "json":
            return list(json.load(stream))
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_ten_thousand_devices_round_trip(
    fleet_tables: FleetTables, tmp_path: Path, fmt: str
) -> None:
    items = devices(N)
    source, target = tmp_path / f"in.{fmt}", tmp_path / f"out.{fmt}"
    write_input(source, fmt, items)

    imported = fleet_tables.fleet("import", "devices", str(source))

    assert imported.returncode == 0, imported.stderr
    assert f"{N} read, {N} written, 0 retried, 0 given up" in imported.stdout
    assert not Path(f"{source}.checkpoint").exists()
    assert not Path(f"{source}.rejects.jsonl").exists()
    stored = fleet_tables.items("devices")
    assert sorted(stored, key=lambda d: d["deviceId"]) == items

    exported = fleet_tables.fleet("export", "devices", str(target))

    assert exported.returncode == 0, exported.stderr
    assert f"{N} items" in exported.stderr
    assert sorted(read_output(target, fmt), key=lambda d: d["deviceId"]) == items


def test_users_and_sessions_keep_their_sets_and_numbers(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    users = [
        {
            "userId": f"user-{i}",
            "name": f"U {i}",
            "email": f"u{i}@example.com",
            "devices": [f"dev-{i}-{j}" for j in range(i % 4)],
        }
        for i in range(200)
    ]
    sessions = [
        {"sessionId": f"s-{i}", "userId": f"user-{i}", "expiresAt": 1_700_000_000 + i}
        for i in range(300)
    ]
    (tmp_path / "users.jsonl").write_text("".join(json.dumps(u) + "\n" for u in users))
    write_input(tmp_path / "sessions.json", "json", sessions)

    assert fleet_tables.fleet("import", "users", str(tmp_path / "users.jsonl")).returncode == 0
    assert fleet_tables.fleet("import", "sessions", str(tmp_path / "sessions.json")).returncode == 0

    stored_users = {u["userId"]: u for u in fleet_tables.items("users")}
    assert stored_users["user-3"]["devices"] == {"dev-3-0", "dev-3-1", "dev-3-2"}
    assert "devices" not in stored_users["user-0"]  # DynamoDB has no empty set
    stored_sessions = {s["sessionId"]: s for s in fleet_tables.items("sessions")}
    assert stored_sessions["s-7"]["expiresAt"] == Decimal(1_700_000_007)
    # The sweeper finds sessions through the expiry index: import fills the shard in.
    assert stored_sessions["s-7"]["expiryShard"] == expiry_shard("s-7")

    out = tmp_path / "users-out.csv"
    assert fleet_tables.fleet("export", "users", str(out)).returncode == 0
    rows = {r["userId"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert json.loads(rows["user-3"]["devices:SS"]) == ["dev-3-0", "dev-3-1", "dev-3-2"]
    back = tmp_path / "users-again.csv"
    back.write_text(out.read_text())
    fleet_tables.batch.delete_items(fleet_tables.names["users"], [{"userId": "user-3"}])
    assert fleet_tables.fleet("import", "users", str(back)).returncode == 0
    again = {u["userId"]: u for u in fleet_tables.items("users")}
    assert again["user-3"]["devices"] == {"dev-3-0", "dev-3-1", "dev-3-2"}


def test_dynamodb_json_export_is_lossless(fleet_tables: FleetTables, tmp_path: Path) -> None:
    item = {
        "deviceId": "dev-bin",
        "blob": b"\x00\xffbinary",
        "precise": Decimal("3.14159265358979323846264338327950288"),
        "tags": {"a", "b"},
    }
    fleet_tables.batch.put_items(fleet_tables.names["devices"], [item])
    plain = fleet_tables.fleet("export", "devices", str(tmp_path / "plain.jsonl"))
    assert plain.returncode == 2
    assert "--dynamodb-json" in plain.stderr

    out = tmp_path / "lossless.jsonl"
    assert fleet_tables.fleet("export", "devices", str(out), "--dynamodb-json").returncode == 0
    record = json.loads(out.read_text())
    assert record["Item"]["blob"] == {"B": base64.b64encode(b"\x00\xffbinary").decode()}
    fleet_tables.batch.delete_items(fleet_tables.names["devices"], [{"deviceId": "dev-bin"}])
    assert fleet_tables.fleet("import", "devices", str(out)).returncode == 0
    assert fleet_tables.items("devices") == [item]


def test_bad_line_stops_with_its_number_and_the_fixed_file_resumes(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    lines = [json.dumps(d) for d in devices(12)]
    lines[6] = '{"deviceId": "dev-000006", "name": oops}'
    source = tmp_path / "devices.jsonl"
    source.write_text("\n".join(lines) + "\n")

    failed = fleet_tables.fleet("import", "devices", str(source), "--chunk-size", "4")

    assert failed.returncode == 2
    assert failed.stderr.startswith(f"fleet: {source}:7: not valid JSON")
    assert len(failed.stderr.strip().splitlines()) == 1
    assert len(fleet_tables.items("devices")) == 6  # everything before the bad line

    lines[6] = json.dumps(devices(12)[6])
    source.write_text("\n".join(lines) + "\n")
    resumed = fleet_tables.fleet("import", "devices", str(source), "--chunk-size", "4")

    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at line 7" in resumed.stdout
    assert "6 read, 6 written" in resumed.stdout
    assert sorted(fleet_tables.items("devices"), key=lambda d: d["deviceId"]) == devices(12)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("d.csv", "deviceId,name\ndev-1,a\ndev-2\n", ":3: 1 fields, the header has 2"),
        ("d.jsonl", '{"deviceId": "dev-1"}\n{"name": "no key"}\n', ":2: missing key attribute"),
        ("d.json", '[{"deviceId": "dev-1"},\n 42]', ":2: expected a JSON object"),
        ("d.json", '[{"deviceId": "dev-1"}', ":1: unexpected end of file"),
        ("d.txt", "{}", "cannot tell the format"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(
    fleet_tables: FleetTables, tmp_path: Path, name: str, content: str, problem: str
) -> None:
    source = tmp_path / name
    source.write_text(content)
    result = fleet_tables.fleet("import", "devices", str(source))
    assert result.returncode == 2
    assert result.stderr.startswith(f"fleet: {source}")
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_item_too_large_is_given_up_into_a_rejects_file(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    items = devices(50)
    items[20]["name"] = "x" * 500_000
    source = tmp_path / "big.jsonl"
    write_input(source, "jsonl", items)

    result = fleet_tables.fleet("import", "devices", str(source))

    assert result.returncode == 1
    assert "50 read, 49 written, 0 retried, 1 given up" in result.stdout
    rejects = Path(f"{source}.rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 1
    assert json.loads(rejects[0])["Item"]["deviceId"] == {"S": "dev-000020"}
    assert len(fleet_tables.items("devices")) == 49

    # The rejects file is an input of the same command: fix the item, import it.
    fixed = json.loads(rejects[0])
    fixed["Item"]["name"] = {"S": "small again"}
    Path(f"{source}.rejects.jsonl").write_text(json.dumps(fixed) + "\n")
    again = fleet_tables.fleet("import", "devices", f"{source}.rejects.jsonl")
    assert again.returncode == 0, again.stderr
    assert "1 read, 1 written" in again.stdout
    assert len(fleet_tables.items("devices")) == 50


def test_progress_bar_shows_rate_when_asked(fleet_tables: FleetTables, tmp_path: Path) -> None:
    source = tmp_path / "devices.jsonl"
    write_input(source, "jsonl", devices(3000))
    result = fleet_tables.fleet("import", "devices", str(source), "--progress")
    assert result.returncode == 0
    assert "import devices" in result.stderr
    assert "items/s" in result.stderr
