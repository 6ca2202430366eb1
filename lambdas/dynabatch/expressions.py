"""Expression attribute names and values built for the caller.

Every attribute name goes through a ``#placeholder``, so reserved words (``name``,
``state``, ``status``...) and odd characters never break an expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder

from .serde import serialize_item

__all__ = ["Projection", "build_projection", "build_condition", "merge_expression_parts"]

_INDEX = re.compile(r"^(?P<name>[^\[\]]+)(?P<index>(\[\d+\])*)$")

#: A projection: attribute paths (``"name"``, ``"meta.tags[0]"``) or one comma-separated string.
Projection = Sequence[str] | str


def _paths(projection: Projection) -> list[str]:
    if isinstance(projection, str):
        projection = projection.split(",")
    paths = [p.strip() for p in projection]
    if not paths or any(not p for p in paths):
        raise ValueError(f"empty attribute name in projection {projection!r}")
    return paths


def build_projection(
    projection: Projection, required: Iterable[str] = (), prefix: str = "#p"
) -> tuple[str, dict[str, str]]:
    """Build ``ProjectionExpression`` and its ``ExpressionAttributeNames``.

    Parameters
    ----------
    projection:
        Attribute paths; a dot separates map levels and ``[n]`` indexes a list.
    required:
        Top-level attributes always included (the key attributes, so results can be
        matched to the keys asked for).
    prefix:
        Placeholder prefix, so that several expressions of one request do not collide.

    Returns
    -------
    (expression, names)
        e.g. ``("#p0, #p1.#p2", {"#p0": "name", "#p1": "meta", "#p2": "tags"})``.
    """
    names: dict[str, str] = {}
    placeholder: dict[str, str] = {}

    def name_of(segment: str) -> str:
        if segment not in placeholder:
            placeholder[segment] = f"{prefix}{len(placeholder)}"
            names[placeholder[segment]] = segment
        return placeholder[segment]

    paths = _paths(projection)
    for extra in required:
        if extra not in paths:
            paths.append(extra)
    parts = []
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        pieces = []
        for segment in path.split("."):
            match = _INDEX.match(segment)
            if match is None:
                raise ValueError(f"cannot parse attribute path {path!r}")
            pieces.append(name_of(match["name"]) + match["index"])
        parts.append(".".join(pieces))
    return ", ".join(parts), names


def build_condition(
    condition: ConditionBase | str,
    *,
    parameter: str,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    is_key_condition: bool = False,
    builder: ConditionExpressionBuilder | None = None,
) -> dict[str, Any]:
    """Turn a condition into request parameters for the client API.

    ``condition`` is either a boto3 condition (``Key("userId").eq("u1")``,
    ``Attr("ownerId").eq(x)``), built with boto3's own ``ConditionExpressionBuilder``, or a
    string expression with its ``names`` and plain-Python ``values``. Returns
    ``{parameter: ..., "ExpressionAttributeNames": ..., "ExpressionAttributeValues": ...}``
    with values already in DynamoDB JSON. Pass one ``builder`` to several calls for one
    request so placeholders do not collide.
    """
    if isinstance(condition, str):
        out: dict[str, Any] = {parameter: condition}
        if names:
            out["ExpressionAttributeNames"] = dict(names)
        if values:
            out["ExpressionAttributeValues"] = serialize_item(values)
        return out
    built = (builder or ConditionExpressionBuilder()).build_expression(
        condition, is_key_condition=is_key_condition
    )
    out = {parameter: built.condition_expression}
    if built.attribute_name_placeholders:
        out["ExpressionAttributeNames"] = dict(built.attribute_name_placeholders)
    if built.attribute_value_placeholders:
        out["ExpressionAttributeValues"] = serialize_item(built.attribute_value_placeholders)
    return out


def merge_expression_parts(request: dict[str, Any], parts: Mapping[str, Any]) -> None:
    """Merge ``parts`` into ``request``, combining names and values instead of overwriting.

    Raises ValueError when two parts give one placeholder different meanings: a dict
    literal with a repeated key would keep only the last silently.
    """
    for key, value in parts.items():
        if key in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            target = request.setdefault(key, {})
            for placeholder, meaning in value.items():
                if placeholder in target and target[placeholder] != meaning:
                    raise ValueError(f"placeholder {placeholder} is used with two meanings")
                target[placeholder] = meaning
        else:
            request[key] = value
