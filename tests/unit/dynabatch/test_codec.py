"""The one-walk codec against its references: TypeSerializer + json, TypeDeserializer, item_size.

Every property compares with the reference on the same input, errors included: a value the
reference refuses must be refused here with the same exception type.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import botocore.session
import pytest
from boto3.dynamodb.types import Binary
from dynabatch import codec, serde
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _b64(value: Any) -> str:
    # botocore sends blobs as base64 text; the reference JSON does what it does.
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON: {value!r}")


def reference_text(item: dict[str, Any]) -> str:
    return json.dumps(serde.serialize_item(item), separators=(",", ":"), default=_b64)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as error:  # the type is what the comparison is about
        return ("error", type(error))


names = st.text(min_size=1, max_size=8)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
binaries = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
    st.binary(max_size=40).map(Binary),
)
texts = st.text(max_size=40)
leaves = st.one_of(st.none(), st.booleans(), texts, numbers, binaries)
sets = st.one_of(
    st.frozensets(st.integers(-(10**9), 10**9), max_size=5),
    st.sets(st.decimals(allow_nan=False, allow_infinity=False), max_size=5),
    st.sets(texts, max_size=5),
    st.frozensets(st.binary(max_size=10), max_size=5),
    st.sets(st.booleans(), max_size=2),
)
values = st.recursive(
    st.one_of(leaves, sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(names, inner, max_size=4),
    ),
    max_leaves=12,
)
items = st.dictionaries(names, values, max_size=6)

# Values DynamoDB can store: what a response body can bring back.
storable_numbers = st.one_of(
    st.integers(min_value=-(10**37), max_value=10**37),
    st.decimals(min_value=-(10**20), max_value=10**20, places=6),
    st.floats(min_value=-1e20, max_value=1e20, allow_nan=False).filter(
        lambda f: f == 0 or abs(f) > 1e-100
    ),
)
storable = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        texts,
        storable_numbers,
        st.binary(max_size=40),
        st.sets(texts, min_size=1, max_size=4),
        st.sets(st.integers(-(10**9), 10**9), min_size=1, max_size=4),
        st.sets(st.binary(max_size=10), min_size=1, max_size=4),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)
storable_items = st.dictionaries(names, storable, min_size=1, max_size=6)


@PROPERTY
@given(item=items)
def test_encoded_text_and_size_are_type_serializer_json_and_item_size_errors_included(
    item: dict[str, Any],
) -> None:
    expected = outcome(lambda: (reference_text(item), serde.item_size(serde.serialize_item(item))))
    assert outcome(lambda: codec.encode_item(item)) == expected


@PROPERTY
@given(item=storable_items)
def test_decoded_body_items_equal_type_deserializer_numbers_and_binary_included(
    item: dict[str, Any],
) -> None:
    text, _ = codec.encode_item(item)
    as_sent = serde.serialize_item(item)  # what botocore's parser hands the reference
    expected = serde.deserialize_item(as_sent)
    decoded = codec.decode_item(json.loads(text))
    assert decoded == expected
    assert codec.decode_item(as_sent) == expected  # botocore's form (bytes) too
    assert codec.wire_to_botocore(json.loads(text)) == as_sent


@pytest.mark.parametrize(
    "item",
    [
        {"a": "é"},
        {"é": "x"},
        {"m": {"ü": "日本"}},
        {"l": ["😀", b"\xff"]},
        {"ss": {"ß", "a"}},
        {"n": -12345678901234567890, "z": 0, "d": Decimal("-0.000120")},
    ],
)
def test_text_and_size_of_non_ascii_and_number_edge_items(item: dict[str, Any]) -> None:
    # Fixed cases the random search may not draw: UTF-8 sizes at every level, number digits.
    assert codec.encode_item(item) == (
        reference_text(item),
        serde.item_size(serde.serialize_item(item)),
    )


def test_binary_comes_back_as_bytes_and_numbers_as_decimal() -> None:
    text, _ = codec.encode_item({"b": b"\x00\xff", "n": 1.5, "bs": {b"x"}, "ns": {3}})
    decoded = codec.decode_item(json.loads(text))
    assert decoded == {"b": b"\x00\xff", "n": Decimal("1.5"), "bs": {b"x"}, "ns": {Decimal(3)}}
    assert type(decoded["b"]) is bytes and type(decoded["n"]) is Decimal


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), serde.UnstorableValue),
        (float("inf"), serde.UnstorableValue),
        (Decimal("NaN"), serde.UnstorableValue),
        (set(), serde.UnstorableValue),
        (object(), TypeError),
        ({1, "a"}, TypeError),
    ],
)
def test_values_dynamodb_cannot_store_are_refused_like_the_reference(
    value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        codec.encode_item({"v": value})
    with pytest.raises(error):
        serde.serialize_item({"v": value})


@pytest.mark.parametrize("number", [10**38 + 1, -(10**38 + 1), Decimal("1." + "1" * 38)])
def test_a_number_past_38_significant_digits_is_refused_not_rounded(number: Any) -> None:
    with pytest.raises(serde.UnstorableValue, match="significant digits"):
        codec.encode_item({"n": number})
    assert codec.encode_item({"n": 10**38 - 1})[0] == '{"n":{"N":"' + "9" * 38 + '"}}'


def test_a_long_int_with_one_significant_digit_is_stored_as_serde_stores_it() -> None:
    text, _ = codec.encode_item({"n": 10**38})
    assert json.loads(text) == serde.serialize_item({"n": 10**38}) == {"n": {"N": "1E+38"}}


def test_non_string_attribute_names_are_refused_with_the_name() -> None:
    with pytest.raises(TypeError, match="1"):
        codec.encode_item({1: "x"})  # type: ignore[dict-item]


def test_unknown_wire_type_is_refused() -> None:
    with pytest.raises(TypeError, match="XX"):
        codec.decode_item({"a": {"XX": "1"}})
    with pytest.raises(TypeError):
        codec.decode_item({"a": {}})


def _botocore_body(operation: str, params: dict[str, Any]) -> Any:
    session = botocore.session.get_session()
    model = session.get_service_model("dynamodb").operation_model(operation)
    serializer = botocore.serialize.create_serializer("json", include_validation=False)
    return json.loads(serializer.serialize_to_request(params, model)["body"])


def test_batch_write_body_is_what_botocore_would_send() -> None:
    put = {"deviceId": "d-1", "temp": Decimal("21.5"), "blob": b"\x01"}
    key = {"deviceId": "d-2"}
    body = codec.batch_write_body(
        {
            "devices": [
                ("PutRequest", codec.encode_item(put)[0]),
                ("DeleteRequest", codec.encode_item(key)[0]),
            ]
        },
        return_consumed_capacity="TOTAL",
    )
    params = {
        "RequestItems": {
            "devices": [
                {"PutRequest": {"Item": serde.serialize_item(put)}},
                {"DeleteRequest": {"Key": serde.serialize_item(key)}},
            ]
        },
        "ReturnConsumedCapacity": "TOTAL",
    }
    assert json.loads(body) == _botocore_body("BatchWriteItem", params)


def test_batch_get_body_is_what_botocore_would_send() -> None:
    keys = [{"deviceId": "d-1"}, {"deviceId": "d-2"}]
    options = {
        "ConsistentRead": True,
        "ProjectionExpression": "#n",
        "ExpressionAttributeNames": {"#n": "name"},
    }
    body = codec.batch_get_body(
        {
            "devices": [codec.encode_item(k)[0] for k in keys],
            "other": [codec.encode_item(keys[0])[0]],
        },
        options={"devices": options},
    )
    params = {
        "RequestItems": {
            "devices": {"Keys": [serde.serialize_item(k) for k in keys], **options},
            "other": {"Keys": [serde.serialize_item(keys[0])]},
        }
    }
    assert json.loads(body) == _botocore_body("BatchGetItem", params)


def test_unknown_write_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="UpdateRequest"):
        codec.batch_write_body({"devices": [("UpdateRequest", "{}")]})


def test_load_body_parses_once_and_refuses_non_objects() -> None:
    assert codec.load_body(b"") == {}
    assert codec.load_body(b'{"Items":[]}') == {"Items": []}
    with pytest.raises(ValueError, match="list"):
        codec.load_body(b"[]")


def test_ever_new_attribute_names_do_not_grow_the_name_cache_without_bound() -> None:
    for i in range(codec._MAX_NAMES + 100):
        text, _ = codec.encode_item({f"name-{i}": i})
        assert text == f'{{"name-{i}":{{"N":"{i}"}}}}'
    assert len(codec._NAMES) <= codec._MAX_NAMES


_KEY_VALUES = st.one_of(
    st.text(max_size=3),
    st.text(min_size=500, max_size=700),  # around the 1024/2048-byte limits once UTF-8
    st.integers(min_value=-(10**39), max_value=10**39),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(_KEY_VALUES, min_size=1, max_size=2),
    typed=st.sampled_from([None, "S", "N", "B"]),
)
def test_the_fast_key_identity_agrees_with_the_checked_one(
    values: list[Any], typed: str | None
) -> None:
    # The writer and reader skip the serialiser for plain str/int keys: the identity they
    # use must be the one of the checked key, and anything else must go to the checks.
    from dynabatch.checks import prepare_key
    from dynabatch.exceptions import InvalidItemError
    from dynabatch.keys import encode_plain_key, fast_key_identity, wire_identity

    names = ("pk", "sk")[: len(values)]
    key = dict(zip(names, values, strict=True))
    types = dict.fromkeys(names, typed) if typed else None
    fast = fast_key_identity(key, names, types)
    made = encode_plain_key({**key, "other": "x"}, names, types)
    try:
        wire = prepare_key("t", key, names, types)
    except InvalidItemError:
        assert fast is None and made is None
        return
    checked = serde.key_identity(wire)
    assert fast is None or fast == checked
    if made is not None:
        # The same identity, and the text and size encode_item gives the key alone.
        assert made == (checked, *codec.encode_item(key))
        assert made[2] == serde.item_size(wire)
    # Keys as a response body carries them (binary as base64) have the same identity.
    assert wire_identity(json.loads(codec.encode_item(key)[0]), names) == checked


def test_whole_write_requests_make_the_same_body() -> None:
    put = {"deviceId": "d-1", "temp": Decimal("21.5"), "blob": b"\x01"}
    key = {"deviceId": "d-2"}
    put_text, key_text = codec.encode_item(put)[0], codec.encode_item(key)[0]
    pairs = [("PutRequest", put_text), ("DeleteRequest", key_text)]
    wrapped = [
        '{"PutRequest":{"Item":' + put_text + "}}",
        '{"DeleteRequest":{"Key":' + key_text + "}}",
    ]
    for capacity in (None, "TOTAL"):
        assert codec.write_requests_body(
            {"devices": wrapped, "other": wrapped[:1]}, capacity
        ) == codec.batch_write_body({"devices": pairs, "other": pairs[:1]}, capacity)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(_KEY_VALUES, min_size=1, max_size=6),
    typed=st.sampled_from([None, "S", "N"]),
)
@example(values=["x" * 2048, "y" * 2049, "é" * 1024, "é" * 1025, "a", "a"], typed=None)
def test_the_readers_string_key_loop_makes_what_encode_plain_key_makes(
    values: list[Any], typed: str | None
) -> None:
    # The reader makes one-string-key texts in its own loop (no call per key): each key
    # must come out as encode_plain_key (or, for anything else, the checked path) makes
    # it, duplicates dropped, refused keys reported and nothing else lost.
    import boto3
    from dynabatch import BatchClient
    from dynabatch.checks import prepare_key
    from dynabatch.exceptions import InvalidItemError
    from dynabatch.keys import encode_plain_key
    from dynabatch.reader import GetStream, ReadOptions

    names = ("pk",)
    types = {"pk": typed} if typed else None
    keys = [{"pk": value} for value in values]
    client = boto3.client("dynamodb", region_name="eu-west-1")
    with BatchClient(client, wire="lean", key_schemas={"t": types or names}) as batch:
        stream = GetStream(batch.context, {"t": keys}, ReadOptions())
        order: dict[Any, None] = {}
        entries = list(stream._lean_entries("t", keys, names, types, 0.5, order))
    expected = []
    refused = 0
    for key in keys:
        try:
            wire = prepare_key("t", key, names, types)
        except InvalidItemError:
            refused += 1
            continue
        ident = ("t", *serde.key_identity(wire))
        if ident in [made[0] for made in expected]:
            continue
        made = encode_plain_key(key, names, types)
        text, size = made[1:] if made else codec.encode_item(key)
        expected.append((ident, text, size))
    assert [(e.ident, e.text, e.size) for e in entries] == expected
    assert list(order) == [ident for ident, _, _ in expected]
    assert len(stream.result.failures) == refused
