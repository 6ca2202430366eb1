"""Plain Python in and out, with nothing lost on the way."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from dynabatch import BatchClient, deserialize_item, item_size, serialize_item
from dynabatch.serde import key_identity

from .conftest import stored


def test_floats_are_stored_as_the_number_written_without_binary_noise(
    batch: BatchClient, ddb: Any
) -> None:
    batch.put_items(
        "devices",
        [{"deviceId": "d", "temp": 0.1, "ratio": 1 / 3, "big": 1e100, "nested": {"v": [2.5, 0.2]}}],
    )

    (item,) = stored(ddb, "devices")
    assert item["temp"] == Decimal("0.1")
    assert float(item["ratio"]) == 1 / 3
    assert item["big"] == Decimal("1E+100")
    assert item["nested"] == {"v": [Decimal("2.5"), Decimal("0.2")]}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(bad: float) -> None:
    with pytest.raises(TypeError, match="not supported"):
        serialize_item({"v": bad})


def test_numbers_outside_dynamodb_range_are_refused() -> None:
    # DynamoDB stores 1E-130 to 9.99E+125; boto3's decimal context traps the rest.
    with pytest.raises(ArithmeticError):
        serialize_item({"v": 1e300})


def test_every_type_round_trips_as_plain_python() -> None:
    item = {
        "s": "text",
        "n": 12,
        "d": Decimal("3.14159265358979323846"),
        "b": b"\x00\x01",
        "bool": True,
        "none": None,
        "ss": {"a", "b"},
        "ns": {1, 2},
        "bs": {b"x", b"y"},
        "l": [1, "two", [3]],
        "m": {"deep": {"deeper": b"z"}},
    }

    back = deserialize_item(serialize_item(item))

    assert back == item
    assert type(back["b"]) is bytes and all(type(v) is bytes for v in back["bs"])


def test_item_size_follows_dynamodb_rules() -> None:
    # Names count in UTF-8, strings in UTF-8, binary raw, numbers ~1 byte per 2 digits + 1.
    assert item_size(serialize_item({"name": "abc"})) == 4 + 3
    assert item_size(serialize_item({"é": "é"})) == 2 + 2
    assert item_size(serialize_item({"n": 12345})) == 1 + 4
    assert item_size(serialize_item({"b": b"1234", "t": True, "z": None})) == 1 + 4 + 1 + 1 + 1 + 1
    assert item_size(serialize_item({"l": ["a", "b"]})) == 1 + 3 + 2 * (1 + 1)
    assert item_size(serialize_item({"m": {"k": "v"}})) == 1 + 3 + 1 + 1 + 1


def test_equal_numbers_make_equal_keys() -> None:
    assert key_identity(serialize_item({"k": 1})) == key_identity(
        serialize_item({"k": Decimal("1.00")})
    )
    assert key_identity(serialize_item({"a": "x", "b": 1})) == key_identity(
        serialize_item({"b": 1, "a": "x"})
    )
    assert key_identity(serialize_item({"k": "1"})) != key_identity(serialize_item({"k": 1}))
