"""`--output json`, `--dry-run`, exact duplicate counts and honest rejects hints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import FleetTables

pytestmark = pytest.mark.integration

COMMON = {"command", "status", "exit_code", "error"}


def devices(count: int) -> list[dict[str, Any]]:
    return [{"deviceId": f"dev-{i:04d}", "n": i, "state": "online"} for i in range(count)]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def document(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object."""
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    parsed = json.loads(lines[0])
    assert isinstance(parsed, dict)
    assert set(parsed) >= COMMON
    return parsed


def test_import_and_export_print_one_json_object(fleet_tables: FleetTables, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", devices(120) + devices(3))  # 3 repeated keys

    imported = fleet_tables.fleet("import", "devices", str(source), "--output", "json")

    assert imported.returncode == 0, imported.stderr
    answer = document(imported.stdout)
    assert answer["command"] == "import" and answer["status"] == "ok"
    assert answer["exit_code"] == 0 and answer["error"] is None
    assert (answer["read"], answer["written"], answer["duplicates"]) == (123, 120, 3)
    assert answer["given_up"] == 0 and answer["rejects"] is None
    assert answer["table_name"] == fleet_tables.names["devices"]

    out = tmp_path / "out.jsonl"
    exported = fleet_tables.fleet("export", "devices", str(out), "--output", "json")

    assert exported.returncode == 0, exported.stderr
    answer = document(exported.stdout)
    assert (answer["command"], answer["status"], answer["items"]) == ("export", "ok", 120)
    assert len(out.read_text().splitlines()) == 120


def test_a_failed_import_still_prints_its_json_with_the_error_located(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    lines = [json.dumps(d) for d in devices(5)]
    lines[3] = '{"deviceId": "dev-0003", "n": 1e999}'
    source = tmp_path / "d.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = fleet_tables.fleet("import", "devices", str(source), "--output", "json")

    assert result.returncode == 2
    answer = document(result.stdout)
    assert answer["status"] == "invalid"
    assert answer["error"]["file"] == str(source)
    assert answer["error"]["line"] == 4
    assert answer["error"]["attribute"] == "n"
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(fleet_tables.items("devices")) == 3


def test_dry_run_import_checks_every_item_and_writes_nothing(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    table = fleet_tables.names["devices"]
    fleet_tables.batch.put_items(table, [{"deviceId": "already-here", "v": 1}])
    items: list[dict[str, Any]] = devices(40)
    items[5] = {"name": "no key"}
    items[9]["n"] = "placeholder"
    items[30]["blob"] = "x" * 500_000
    source = tmp_path / "d.jsonl"
    text = "".join(json.dumps(i) + "\n" for i in items).replace('"placeholder"', "1e300")
    source.write_text(text)

    result = fleet_tables.fleet("import", "devices", str(source), "--dry-run", "--output", "json")

    assert result.returncode == 2
    answer = document(result.stdout)
    assert answer["dry_run"] is True
    assert (answer["read"], answer["invalid"], answer["too_large"]) == (40, 2, 1)
    assert answer["written"] == 0
    problems = "\n".join(answer["problems"])
    assert f"{source}:6: missing key attribute 'deviceId'" in problems
    assert f"{source}:10: attribute 'n'" in problems
    assert f"{source}:31:" in problems
    assert fleet_tables.items("devices") == [{"deviceId": "already-here", "v": 1}]
    assert not Path(f"{source}.checkpoint").exists()
    assert not Path(f"{source}.rejects.jsonl").exists()

    clean = write_jsonl(tmp_path / "clean.jsonl", devices(10))
    ok = fleet_tables.fleet("import", "devices", str(clean), "--dry-run")
    assert ok.returncode == 0, ok.stderr
    assert "10 would be written" in ok.stdout
    assert len(fleet_tables.items("devices")) == 1


def test_duplicate_keys_are_counted_over_the_whole_file_even_when_resumed(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    # Keys repeat 1,000 lines apart, across many slices; the last line of a key wins.
    first = [{"deviceId": f"dev-{i:04d}", "v": "old"} for i in range(1000)]
    second = [{"deviceId": f"dev-{i:04d}", "v": "new"} for i in range(0, 1000, 4)]
    source = write_jsonl(tmp_path / "d.jsonl", first + second)

    result = fleet_tables.fleet(
        "import", "devices", str(source), "--chunk-size", "100", "--output", "json"
    )

    assert result.returncode == 0, result.stderr
    assert document(result.stdout)["duplicates"] == 250
    stored = {d["deviceId"]: d["v"] for d in fleet_tables.items("devices")}
    assert len(stored) == 1000
    assert sum(v == "new" for v in stored.values()) == 250
    assert stored["dev-0004"] == "new" and stored["dev-0005"] == "old"

    # A run that stopped at line 1101 (a bad line there, fixed) still counts them all.
    lines = source.read_text().splitlines()
    bad = lines[1100]
    lines[1100] = "{oops"
    source.write_text("\n".join(lines) + "\n")
    stopped = fleet_tables.fleet("import", "devices", str(source), "--chunk-size", "100")
    assert stopped.returncode == 2
    lines[1100] = bad
    source.write_text("\n".join(lines) + "\n")
    resumed = fleet_tables.fleet(
        "import", "devices", str(source), "--chunk-size", "100", "--output", "json"
    )
    answer = document(resumed.stdout)
    assert answer["resumed_at_line"] == 1101
    assert answer["duplicates"] == 250


def test_items_over_400_kb_get_no_reimport_hint(fleet_tables: FleetTables, tmp_path: Path) -> None:
    items = devices(20)
    items[4]["blob"] = "x" * 500_000
    source = write_jsonl(tmp_path / "d.jsonl", items)

    result = fleet_tables.fleet("import", "devices", str(source))

    assert result.returncode == 1
    assert "20 read, 19 written, 0 retried, 1 given up" in result.stdout
    assert "over DynamoDB's 400 KB limit" in result.stdout
    assert "re-import them with" not in result.stdout
    assert len(Path(f"{source}.rejects.jsonl").read_text().splitlines()) == 1


def test_apply_json_output_and_dry_run(fleet_tables: FleetTables, tmp_path: Path) -> None:
    table = fleet_tables.names["devices"]
    writes = {table: [{"PutRequest": {"Item": {"deviceId": {"S": f"d-{i}"}}}} for i in range(30)]}
    path = tmp_path / "writes.json"
    path.write_text(json.dumps(writes))

    dry = fleet_tables.fleet("apply", f"file://{path}", "--dry-run", "--output", "json")

    assert dry.returncode == 0, dry.stderr
    answer = document(dry.stdout)
    assert (answer["command"], answer["dry_run"], answer["writes"]) == ("apply", True, 30)
    assert answer["written"] == 0
    assert fleet_tables.items("devices") == []

    real = fleet_tables.fleet("apply", f"file://{path}", "--output", "json")
    assert document(real.stdout)["written"] == 30
    gets = {table: {"Keys": [{"deviceId": {"S": "d-1"}}, {"deviceId": {"S": "nope"}}]}}
    path.write_text(json.dumps(gets))
    read = fleet_tables.fleet("apply", str(path), "--output", "json")
    answer = document(read.stdout)
    assert answer["Responses"][table] == [{"deviceId": {"S": "d-1"}}]
    assert (answer["read"], answer["missing"]) == (1, 1)


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        ({"PutRequest": {"Item": {"name": {"S": "no key"}}}}, "missing key attribute 'deviceId'"),
        ({"DeleteRequest": {"Key": {"name": {"S": "x"}}}}, "not a key attribute"),
        ({"PutRequest": {"Item": {"deviceId": {"N": "5"}}}}, "a key attribute of type S"),
        (
            {"PutRequest": {"Item": {"deviceId": {"S": "a"}, "n": {"N": "1E+200"}}}},
            "attribute 'n': ",
        ),
    ],
)
def test_apply_with_a_bad_item_is_one_line_exit_2_and_sends_nothing(
    fleet_tables: FleetTables, tmp_path: Path, request_: dict[str, Any], problem: str
) -> None:
    table = fleet_tables.names["devices"]
    good = {"PutRequest": {"Item": {"deviceId": {"S": "good"}}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({table: [good, request_]}, indent=1))
    line = 1 + path.read_text().splitlines().index("  {", 10)  # the second request's "{"

    result = fleet_tables.fleet("apply", str(path))

    assert result.returncode == 2
    assert result.stderr.startswith(f"fleet: {path}:{line}: table '{table}' request 1: ")
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fleet_tables.items("devices") == []
