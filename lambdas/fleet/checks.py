"""One item checked as DynamoDB would check it, before anything is sent.

The batch layer's own per-item check (:func:`dynabatch.check_item`: keys, empty sets, number
range and precision, NaN, size) decides, so the command line refuses exactly what the layer
would. The key rules run here first only to word the commonest mistakes the way the command
line always has ("missing key attribute 'deviceId'"). ``fleet import`` and the distributed
import's worker both call it, so a file imports the same way either way. The problem is
raised as :class:`ItemProblem`, naming the attribute.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dynabatch

__all__ = ["ItemProblem", "check_item"]

_KEY_TYPES = {"S": (str,), "N": (int, decimal.Decimal), "B": (bytes, bytearray)}


@dataclass
class ItemProblem(Exception):
    """Why an item cannot be written; ``permanent`` when no retry can ever write it."""

    attribute: str | None
    reason: str
    too_large: bool = False

    def __str__(self) -> str:
        return f"attribute {self.attribute!r}: {self.reason}" if self.attribute else self.reason


def check_item(
    item: Mapping[str, Any],
    key_names: tuple[str, ...],
    key_types: Mapping[str, str],
    table: str = "",
) -> int:
    """Check ``item`` for ``put``; returns its size in bytes as DynamoDB counts it.

    Raises
    ------
    ItemProblem
        The first problem found (a missing or empty key, a bad number, a value DynamoDB
        cannot store, a size over 400 KB).
    """
    _check_keys(item, key_names, key_types)
    try:
        return dynabatch.check_item(table, item, key_names, key_types)
    except dynabatch.InvalidItemError as error:
        too_large = isinstance(error, dynabatch.ItemTooLargeError)
        raise ItemProblem(error.attribute, error.reason, too_large) from None


def _check_keys(
    item: Mapping[str, Any], key_names: tuple[str, ...], key_types: Mapping[str, str]
) -> None:
    for name in key_names:
        if name not in item:
            raise ItemProblem(None, f"missing key attribute {name!r}")
        kind = key_types.get(name, "S")
        value = item[name]
        if isinstance(value, bool) or not isinstance(value, _KEY_TYPES.get(kind, (str,))):
            raise ItemProblem(name, f"a key attribute of type {kind}, got {_type_name(value)}")
        if kind in ("S", "B") and not value:
            raise ItemProblem(name, "a key attribute cannot be empty")


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean"}.get(type(value), type(value).__name__)
