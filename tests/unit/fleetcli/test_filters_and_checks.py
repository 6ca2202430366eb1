"""`--where` / `--set` / `--if` parsing, and the per-item check, against moto in process.

The expressions are run by moto's DynamoDB, so a test fails when the text the parser
builds does not select what the user wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from dynabatch import BatchClient
from fleet.checks import ItemProblem, check_item
from moto import mock_aws

from fleetcli.bulk.filters import FilterError, parse_assignment, parse_condition, parse_filter

ITEMS: list[dict[str, Any]] = [
    {"deviceId": "d-1", "state": "online", "battery": 80, "name": "lamp hall"},
    {"deviceId": "d-2", "state": "maintenance", "battery": 15, "name": "lamp desk"},
    {"deviceId": "d-3", "state": "offline", "battery": 5, "name": "plug", "tags": {"x"}},
    {"deviceId": "d-4", "state": "12", "battery": 12},
]


@pytest.fixture
def batch() -> Iterator[BatchClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="devices",
            KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with BatchClient(client, key_schemas={"devices": ("deviceId",)}) as batch:
            batch.put_items("devices", ITEMS)
            yield batch


def selected(
    batch: BatchClient, where: str, names: str | None = None, values: str | None = None
) -> list[str]:
    options = parse_filter(where, names, values)
    assert options is not None
    return sorted(item["deviceId"] for item in batch.scan("devices", **options))


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("state = maintenance", ["d-2"]),
        ("state=maintenance", ["d-2"]),
        ("state <> online and battery < 20", ["d-2", "d-3", "d-4"]),
        ("battery >= 80 or state = offline", ["d-1", "d-3"]),
        ("name begins_with 'lamp '", ["d-1", "d-2"]),
        ("tags exists", ["d-3"]),
        ("name not_exists", ["d-4"]),
        ("state = '12'", ["d-4"]),  # quoted: a string, though it reads as a number
        ("battery = 12", ["d-4"]),
    ],
)
def test_readable_where_selects_what_it_says(
    batch: BatchClient, where: str, expected: list[str]
) -> None:
    assert selected(batch, where) == expected


def test_raw_filter_expression_with_names_and_values(batch: BatchClient) -> None:
    assert selected(
        batch,
        "#s = :s OR #b < :b",
        '{"#s": "state", "#b": "battery"}',
        '{":s": "online", ":b": 10}',
    ) == ["d-1", "d-3"]


@pytest.mark.parametrize("where", ["state", "state = ", "state ~ x", "a = 'unclosed"])
def test_unreadable_where_is_refused(where: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(where)


def test_names_without_where_is_refused() -> None:
    with pytest.raises(FilterError, match="--names and --values go with"):
        parse_filter(None, '{"#s": "state"}')


def test_assignment_and_condition() -> None:
    assert parse_assignment("state=maintenance") == ("state", "maintenance")
    assert parse_assignment("battery = 12") == ("battery", 12)
    assert parse_assignment("code='12'") == ("code", "12")
    assert parse_assignment("ratio=0.5") == ("ratio", Decimal("0.5"))
    with pytest.raises(FilterError):
        parse_assignment("state")
    condition = parse_condition("state = online")
    assert condition["filter"] == "#c0 = :c0"  # own placeholders: no clash with an update's


KEYS = ("deviceId",)
TYPES = {"deviceId": "S"}


@pytest.mark.parametrize(
    ("item", "attribute", "reason"),
    [
        ({"n": 1}, None, "missing key attribute 'deviceId'"),
        ({"deviceId": ""}, "deviceId", "cannot be empty"),
        ({"deviceId": 7}, "deviceId", "of type S"),
        ({"deviceId": "a", "n": Decimal("1E+126")}, "n", "range"),
        ({"deviceId": "a", "n": Decimal("1E-131")}, "n", "range"),
        ({"deviceId": "a", "n": Decimal("1." + "1" * 38)}, "n", "significant digits"),
        ({"deviceId": "a", "n": float("nan")}, "n", "NaN"),
        ({"deviceId": "a", "s": set()}, "s", "empty set"),
        ({"deviceId": "a", "m": {"inner": [set()]}}, "m", "empty set"),
    ],
)
def test_check_item_names_the_attribute_and_the_problem(
    item: dict[str, Any], attribute: str | None, reason: str
) -> None:
    with pytest.raises(ItemProblem) as raised:
        check_item(item, KEYS, TYPES)
    # The attribute, or a path inside it (the batch layer's check says "m.inner[0]").
    assert raised.value.attribute == attribute or str(raised.value.attribute).startswith(
        f"{attribute}."
    )
    assert reason in str(raised.value)
    assert not raised.value.too_large


def test_check_item_sizes_and_flags_items_over_400_kb() -> None:
    assert check_item({"deviceId": "a", "n": Decimal("9.99E+125")}, KEYS, TYPES) > 0
    with pytest.raises(ItemProblem) as raised:
        check_item({"deviceId": "a", "blob": "x" * 409_600}, KEYS, TYPES)
    assert raised.value.too_large
