"""lambdas/fleet/openapi.json says what the code enforces: the same strings pass and fail both.

Schemathesis (tests/integration) checks answers against the document; this checks the
document's parameter rules against the validators themselves, probe by probe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fleet.devices import decode_cursor, encode_cursor, parse_page_request
from fleet.errors import BadRequest
from fleet.idempotency import check_key
from fleet.transfer import MAX_DEVICES_PER_USER, parse_transfer

DOCUMENT = json.loads(
    (Path(__file__).resolve().parents[3] / "lambdas" / "fleet" / "openapi.json").read_text("utf-8")
)
LIST = DOCUMENT["paths"]["/users/{userId}/devices"]["get"]
TRANSFER = DOCUMENT["paths"]["/devices/{deviceId}/transfer"]["post"]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


def parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return resolve(found["schema"])


def document_accepts(schema: dict[str, Any], value: str) -> bool:
    """JSON Schema's string rules; ``$`` read as ECMAScript does (no match before a final \\n)."""
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
        return False
    pattern = schema.get("pattern")
    return pattern is None or re.search(pattern.replace("$", r"\Z"), value) is not None


def code_accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except BadRequest:
        return False
    return True


CURSOR = encode_cursor("user-0001", 100)
PROBES: dict[str, tuple[dict[str, Any], Callable[[str], object], list[str]]] = {
    "fields": (
        parameter(LIST, "fields"),
        lambda v: parse_page_request("u", {"fields": v}),
        [
            "name",
            "name,state",
            " name , state",
            "a" * 64,
            "a" * 65,
            "",
            "name\n",
            "name,",
            "9name",
            "na me",
            "name,\tstate",
            ",".join(["f"] * 20),
            ",".join(["f"] * 21),
            "a-b_c",
        ],
    ),
    "cursor": (
        parameter(LIST, "cursor"),
        lambda v: decode_cursor("user-0001", v),
        [CURSOR, CURSOR + "\n", CURSOR + "=", CURSOR + " ", "", "x" * 513, "a+b", "a/b"],
    ),
    "Idempotency-Key": (
        parameter(TRANSFER, "Idempotency-Key"),
        check_key,
        ["k-1", "", "k 1", "k-1\n", "~" * 256, "~" * 257, "é", "\x7f"],
    ),
    "deviceId": (
        parameter(TRANSFER, "deviceId"),
        lambda v: parse_transfer(v, '{"fromUserId": "a", "toUserId": "b"}'),
        ["dev-1", "", "dev 1", "dev-1\n", "d" * 256, "d" * 257, "\U0001f4a1" * 256, "a\x00"],
    ),
    "toUserId": (
        resolve(DOCUMENT["components"]["schemas"]["TransferRequest"]["properties"]["toUserId"]),
        lambda v: parse_transfer("dev-1", json.dumps({"fromUserId": "a", "toUserId": v})),
        ["user-2", "", "u 2", "u-2\n", "u" * 256, "u" * 257, "\x85u"],
    ),
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_document_and_the_code_accept_the_same_strings(name: str) -> None:
    schema, check, probes = PROBES[name]

    disagreements = [
        (value, document_accepts(schema, value))
        for value in probes
        if document_accepts(schema, value) != code_accepts(check, value)
    ]

    assert disagreements == [], f"{name}: (value, document says) where the code differs"


def codes(operation: dict[str, Any], status: str) -> set[str]:
    description = operation["responses"][status]["description"]
    return set(re.findall(r"[A-Z][A-Za-z]+", description.rsplit("Codes:", 1)[1]))


def test_the_transfer_answers_are_the_ones_the_code_gives() -> None:
    assert {"NotOwner", "DeviceLimitReached", "TransferConflict", "RequestInProgress"} <= codes(
        TRANSFER, "409"
    )
    assert codes(TRANSFER, "404") == {"UserNotFound", "NotFound"}
    assert str(MAX_DEVICES_PER_USER) in TRANSFER["responses"]["409"]["description"]
