"""Plain Python in and out, with nothing lost on the way."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from dynabatch import BatchClient, deserialize_item, item_size, serialize_item
from dynabatch.serde import key_identity
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, Decimal("NaN")])
def test_nan_and_infinity_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="NaN and Infinity"):
        serialize_item({"v": bad})


@pytest.mark.parametrize(
    "bad",
    [1e300, Decimal("1E+126"), Decimal("-1E+126"), Decimal("1E-131"), 10**126],
)
def test_numbers_outside_dynamodb_range_are_refused(bad: Any) -> None:
    # DynamoDB stores magnitudes 1E-130 to 9.99E+125 (boto3's own context lets 1E+126 and
    # 1E-131 through, and DynamoDB then refuses the whole request).
    with pytest.raises(ValueError, match="outside DynamoDB's number range"):
        serialize_item({"v": bad})


@pytest.mark.parametrize(
    "edge", [Decimal("1E-130"), Decimal("9.9999999999999999999999999999999999999E+125")]
)
def test_numbers_at_the_edges_of_the_range_are_stored(edge: Decimal) -> None:
    assert serialize_item({"v": edge}) == {"v": {"N": str(edge)}}


def test_an_int_and_a_float_of_the_same_value_get_the_same_verdict() -> None:
    # 10**38 has one significant digit, as 1e38 does: both are stored.
    assert serialize_item({"i": 10**38, "f": 1e38}) == {"i": {"N": "1E+38"}, "f": {"N": "1E+38"}}
    with pytest.raises(ValueError, match="39 significant digits"):
        serialize_item({"v": 10**38 + 1})
    with pytest.raises(ValueError, match="39 significant digits"):
        serialize_item({"v": Decimal(10**38 + 1)})


def test_reads_can_return_ints_or_floats() -> None:
    wire = {"i": {"N": "3"}, "d": {"N": "2.5"}, "s": {"NS": ["1", "0.5"]}}
    assert deserialize_item(wire) == {"i": 3, "d": Decimal("2.5"), "s": {1, Decimal("0.5")}}
    as_int = deserialize_item(wire, numbers="int")
    assert type(as_int["i"]) is int and type(as_int["d"]) is Decimal
    as_float = deserialize_item(wire, numbers="float")
    assert as_float == {"i": 3, "d": 2.5, "s": {1, 0.5}}
    assert type(as_float["d"]) is float and type(as_float["i"]) is int


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


@given(
    st.one_of(
        st.integers(),
        st.decimals(allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_numbers_serialize_as_boto3_does_wherever_dynamodb_stores_them(value: Any) -> None:
    reference = Decimal(repr(value)) if isinstance(value, float) else value
    try:
        ours: str | None = serialize_item({"v": value})["v"]["N"]
    except ValueError:
        ours = None
    try:
        theirs: str | None = TypeSerializer().serialize(reference)["N"]
    except (ArithmeticError, TypeError):
        theirs = None
    if ours is not None:
        assert Decimal(ours) == reference  # never a different number
        if theirs is not None and reference != 0:
            assert ours == theirs
    elif theirs is not None:
        # boto3 lets it through, DynamoDB would refuse it: outside 1E-130..9.99E+125.
        assert not Decimal("1E-130") <= abs(Decimal(theirs)) < Decimal("1E+126")
