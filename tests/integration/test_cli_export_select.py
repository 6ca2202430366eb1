"""`fleet export`: CSV with every attribute (a lossless round trip), --where, --fields,
and any table, not only the project's."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .conftest import FleetTables

pytestmark = pytest.mark.integration

VARIED: list[dict[str, Any]] = [
    {"deviceId": "d-1", "name": 'Lamp "one", hall\nfloor 2 \u2013 é', "state": "online"},
    {"deviceId": "d-2", "battery": 17, "ratio": Decimal("0.1"), "on": True, "state": "maintenance"},
    {"deviceId": "d-3", "tags": {"b", "a"}, "levels": {1, Decimal("2.5")}, "on": False},
    {"deviceId": "d-4", "meta": {"room": "hall", "floor": 2, "x": [1, "two"]}, "list": ["a", 3]},
    {"deviceId": "d-5", "precise": Decimal("3.14159265358979323846264338327950288")},
    {"deviceId": "d-6", "big": Decimal("-1.5E+125"), "tiny": Decimal("1E-130")},
    {"deviceId": "d-7"},
]


def by_key(items: list[dict[str, Any]], key: str = "deviceId") -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item[key]))


def test_csv_round_trip_keeps_every_attribute_and_type(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    table = fleet_tables.names["devices"]
    fleet_tables.batch.put_items(table, VARIED)
    out = tmp_path / "devices.csv"

    exported = fleet_tables.fleet("export", "devices", str(out))

    assert exported.returncode == 0, exported.stderr
    header = next(csv.reader(out.open(encoding="utf-8")))
    assert header[0] == "deviceId"
    assert {"battery:N", "on:BOOL", "tags:SS", "levels:NS", "meta:M", "list:L"} <= set(header)
    assert "left out" not in exported.stderr

    fleet_tables.batch.delete_items(table, [{"deviceId": d["deviceId"]} for d in VARIED])
    imported = fleet_tables.fleet("import", "devices", str(out))

    assert imported.returncode == 0, imported.stderr
    assert by_key(fleet_tables.items("devices")) == by_key(VARIED)


def test_csv_columns_still_narrow_and_say_what_they_left_out(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    fleet_tables.batch.put_items(fleet_tables.names["devices"], VARIED)
    out = tmp_path / "narrow.csv"

    result = fleet_tables.fleet("export", "devices", str(out), "--columns", "deviceId,state")

    assert result.returncode == 0, result.stderr
    assert "left out" in result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["deviceId"]: r["state"] for r in rows}["d-2"] == "maintenance"
    assert set(rows[0]) == {"deviceId", "state"}


def test_where_and_fields_select_items_and_attributes(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    fleet_tables.batch.put_items(fleet_tables.names["devices"], VARIED)
    out = tmp_path / "maintenance.jsonl"

    result = fleet_tables.fleet("export", "devices", str(out), "--where", "state = maintenance")

    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["deviceId"] for line in out.read_text().splitlines()] == ["d-2"]

    numbers = tmp_path / "numbers.jsonl"
    result = fleet_tables.fleet(
        "export",
        "devices",
        str(numbers),
        "--where",
        "battery < 20 or on = true",
        "--fields",
        "deviceId,battery",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in numbers.read_text().splitlines()]
    assert records == [{"deviceId": "d-2", "battery": 17}]

    raw = tmp_path / "raw.jsonl"
    result = fleet_tables.fleet(
        "export",
        "devices",
        str(raw),
        "--where",
        "attribute_exists(#t) AND #s <> :s",
        "--names",
        '{"#t": "tags", "#s": "state"}',
        "--values",
        '{":s": "online"}',
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["deviceId"] for line in raw.read_text().splitlines()] == ["d-3"]


def test_a_where_it_cannot_read_is_one_line_exit_2(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    result = fleet_tables.fleet("export", "devices", str(tmp_path / "x.jsonl"), "--where", "state")
    assert result.returncode == 2
    assert result.stderr.startswith("fleet: --where 'state': expected 'attr OP value'")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def readings(fleet_tables: FleetTables) -> str:
    """Any table: a numeric partition key and a string sort key, not a project table."""
    client = fleet_tables.batch.client
    name = f"readings-{fleet_tables.names['devices']}"
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "sensor", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "sensor", "AttributeType": "N"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_any_table_imports_and_exports_with_its_own_key_schema(
    fleet_tables: FleetTables, readings: str, tmp_path: Path
) -> None:
    items = [
        {"sensor": s, "at": f"2026-01-01T00:0{m}", "value": Decimal(s * 10 + m) / 4}
        for s in range(1, 4)
        for m in range(5)
    ]
    source = tmp_path / "readings.jsonl"
    source.write_text(
        "".join(
            f'{{"sensor": {i["sensor"]}, "at": "{i["at"]}", "value": {i["value"]}}}\n'
            for i in items
        )
    )

    imported = fleet_tables.fleet("import", readings, str(source))

    assert imported.returncode == 0, imported.stderr
    assert "15 read, 15 written" in imported.stdout
    assert sorted(fleet_tables.batch.scan(readings), key=lambda i: (i["sensor"], i["at"])) == items

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sensor": "one", "at": "x"}\n')
    refused = fleet_tables.fleet("import", readings, str(bad))
    assert refused.returncode == 2
    assert "attribute 'sensor': a key attribute of type N" in refused.stderr

    out = tmp_path / "readings.csv"
    exported = fleet_tables.fleet("export", readings, str(out))
    assert exported.returncode == 0, exported.stderr
    assert next(csv.reader(out.open()))[:2] == ["sensor:N", "at"]

    missing = fleet_tables.fleet("export", "no-such-table", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2
    assert "no table named 'no-such-table'" in missing.stderr
