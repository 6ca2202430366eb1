"""`fleet apply`: the AWS CLI's --request-items files, past the CLI's 25-write/100-key limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .conftest import FleetTables

pytestmark = pytest.mark.integration

# From the AWS CLI reference for batch-write-item / batch-get-item (MusicCollection) and the
# DynamoDB developer guide (ProductCatalog, a numeric key).
MUSIC_PUTS = {
    "MusicCollection": [
        {
            "PutRequest": {
                "Item": {
                    "Artist": {"S": "No One You Know"},
                    "SongTitle": {"S": "Call Me Today"},
                    "AlbumTitle": {"S": "Somewhat Famous"},
                }
            }
        },
        {
            "PutRequest": {
                "Item": {
                    "Artist": {"S": "Acme Band"},
                    "SongTitle": {"S": "Happy Day"},
                    "AlbumTitle": {"S": "Songs About Life"},
                }
            }
        },
        {
            "PutRequest": {
                "Item": {
                    "Artist": {"S": "No One You Know"},
                    "SongTitle": {"S": "Scared of My Shadow"},
                    "AlbumTitle": {"S": "Blue Sky Blues"},
                }
            }
        },
    ]
}
MUSIC_DELETES = {
    "MusicCollection": [
        {
            "DeleteRequest": {
                "Key": {
                    "Artist": {"S": "No One You Know"},
                    "SongTitle": {"S": "Scared of My Shadow"},
                }
            }
        },
        {"DeleteRequest": {"Key": {"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Happy Day"}}}},
    ]
}
PRODUCTS_MIXED = {
    "ProductCatalog": [
        {
            "PutRequest": {
                "Item": {
                    "Id": {"N": "601"},
                    "Description": {"S": "Snowboard"},
                    "QuantityOnHand": {"N": "5"},
                    "Price": {"N": "100"},
                }
            }
        },
        {"PutRequest": {"Item": {"Id": {"N": "602"}, "Description": {"S": "Snow shovel"}}}},
        {"DeleteRequest": {"Key": {"Id": {"N": "403"}}}},
    ]
}


@pytest.fixture
def music(fleet_tables: FleetTables) -> Iterator[FleetTables]:
    client = fleet_tables.batch.client
    client.create_table(
        TableName="MusicCollection",
        KeySchema=[
            {"AttributeName": "Artist", "KeyType": "HASH"},
            {"AttributeName": "SongTitle", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "Artist", "AttributeType": "S"},
            {"AttributeName": "SongTitle", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName="ProductCatalog",
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield fleet_tables
    finally:
        client.delete_table(TableName="MusicCollection")
        client.delete_table(TableName="ProductCatalog")


def save(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document, indent=2))
    return f"file://{path}"


def songs(tables: FleetTables) -> set[tuple[str, str]]:
    return {(s["Artist"], s["SongTitle"]) for s in tables.batch.scan("MusicCollection")}


def test_tutorial_puts_then_deletes(music: FleetTables, tmp_path: Path) -> None:
    put = music.fleet("apply", save(tmp_path / "puts.json", MUSIC_PUTS))
    assert put.returncode == 0, put.stderr
    assert "3 written" in put.stderr
    assert len(songs(music)) == 3

    deleted = music.fleet("apply", save(tmp_path / "deletes.json", MUSIC_DELETES))
    assert deleted.returncode == 0, deleted.stderr
    assert songs(music) == {("No One You Know", "Call Me Today")}


def test_tutorial_mixed_puts_and_deletes_with_a_numeric_key(
    music: FleetTables, tmp_path: Path
) -> None:
    music.batch.put_items("ProductCatalog", [{"Id": 403, "Description": "Old"}])
    result = music.fleet("apply", save(tmp_path / "mixed.json", PRODUCTS_MIXED))
    assert result.returncode == 0, result.stderr
    products = {p["Id"]: p for p in music.batch.scan("ProductCatalog")}
    assert set(products) == {601, 602}
    assert products[601]["Price"] == Decimal(100)


def test_thirty_writes_which_the_aws_cli_refuses(fleet_tables: FleetTables, tmp_path: Path) -> None:
    table = fleet_tables.names["devices"]
    writes = {
        table: [
            {"PutRequest": {"Item": {"deviceId": {"S": f"dev-{i:02d}"}, "n": {"N": str(i)}}}}
            for i in range(30)
        ]
    }
    result = fleet_tables.fleet("apply", save(tmp_path / "thirty.json", writes))
    assert result.returncode == 0, result.stderr
    assert "30 written" in result.stderr
    assert sorted(int(d["n"]) for d in fleet_tables.items("devices")) == list(range(30))


def test_batch_get_of_150_keys_with_a_reserved_word_projection(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    table = fleet_tables.names["devices"]
    fleet_tables.batch.put_items(
        table, [{"deviceId": f"dev-{i:03d}", "name": f"n{i}", "state": "on"} for i in range(140)]
    )
    request = {
        table: {
            "Keys": [{"deviceId": {"S": f"dev-{i:03d}"}} for i in range(150)],
            "ProjectionExpression": "#n",
            "ExpressionAttributeNames": {"#n": "name"},
        }
    }
    result = fleet_tables.fleet("apply", save(tmp_path / "get.json", request))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    found = answer["Responses"][table]
    assert len(found) == 140
    assert answer["UnprocessedKeys"] == {}
    assert {tuple(sorted(item)) for item in found} == {("deviceId", "name")}
    assert "10 not found" in result.stderr


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"devices": [{"PutRequest": {}}]}', "table 'devices' request 0: PutRequest.Item"),
        ('{"devices": [{"UpdateRequest": {}}]}', "expected one PutRequest or DeleteRequest"),
        (
            '{"devices": [{"PutRequest": {"Item": {"deviceId": {"Q": "x"}}}}]}',
            "not valid DynamoDB JSON",
        ),
        ('{"devices": 5}', "expected a list of write requests"),
        ('{\n "devices": [\n oops ]}', ":3: not valid JSON"),
    ],
)
def test_bad_request_items_name_the_file_and_send_nothing(
    fleet_tables: FleetTables, tmp_path: Path, document: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(document)
    result = fleet_tables.fleet("apply", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"fleet: {path}")
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
