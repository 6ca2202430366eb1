"""``fleet export --where``: a few readable conditions, or a raw FilterExpression.

Readable form: clauses ``attr OP value`` joined by ``and`` / ``or`` (``and`` binds first,
as in DynamoDB), with OP one of ``= <> != < <= > >=``, ``begins_with``, ``contains``, or
``attr exists`` / ``attr not_exists``. A value is a number when it reads as one, ``true``
/ ``false`` a boolean, anything else (or anything in quotes) a string::

    state = maintenance
    state = 'online' and battery < 20
    name begins_with "lamp"

Raw form: with ``--names`` and/or ``--values`` (JSON objects), ``--where`` is passed to
DynamoDB as the FilterExpression itself.
"""

from __future__ import annotations

import json
import re
import shlex
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["FilterError", "parse_filter", "parse_condition", "parse_assignment"]

_COMPARE = {"=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FUNCTIONS = {"begins_with", "contains"}
_PRESENCE = {"exists": "attribute_exists", "not_exists": "attribute_not_exists"}


class FilterError(ValueError):
    """A ``--where`` the command cannot read (the message says what it expected)."""


def parse_filter(
    where: str | None, names: str | None = None, values: str | None = None
) -> dict[str, Any] | None:
    """Scan options (``filter``, ``names``, ``values``) for ``--where``; None without one."""
    if not where:
        if names or values:
            raise FilterError("--names and --values go with a --where FilterExpression")
        return None
    if names or values:
        return {
            "filter": where,
            "names": _json_object(names, "--names") if names else None,
            "values": _json_object(values, "--values") if values else None,
        }
    return _readable(where)


def _json_object(text: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise FilterError(f"{flag}: not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise FilterError(f"{flag}: expected a JSON object")
    return value


def parse_condition(text: str) -> dict[str, Any]:
    """A readable condition (``fleet update --if``) as ``filter``/``names``/``values``.

    Its placeholders (``#c0``, ``:c0``) cannot collide with those an update builds.
    """
    return _readable(text, "c")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"state=maintenance"`` -> ``("state", "maintenance")``; values as in ``--where``."""
    name, sign, value = text.partition("=")
    name = name.strip()
    if not sign or not name:
        raise FilterError(f"--set {text!r}: expected ATTR=VALUE")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return name, value[1:-1]
    return name, _value(value)


def _readable(where: str, prefix: str = "") -> dict[str, Any]:
    try:
        words = shlex.split(where, posix=True)
    except ValueError as error:
        raise FilterError(f"--where: {error}") from None
    tokens = _split_operators(words, where)
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts: list[str] = []
    clause: list[tuple[str, bool]] = []
    for word, quoted in [*tokens, ("or", False)]:
        if not quoted and word.lower() in ("and", "or"):
            parts.append(_clause(clause, names, values, where, prefix))
            parts.append(word.upper())
            clause = []
        else:
            clause.append((word, quoted))
    return {"filter": " ".join(parts[:-1]), "names": names, "values": values or None}


def _split_operators(words: list[str], where: str) -> list[tuple[str, bool]]:
    # shlex keeps "state=x" as one word: cut comparison operators out of unquoted text,
    # and remember which words were quoted (a quoted value is always a string).
    quoted_words = set(re.findall(r"'([^']*)'|\"([^\"]*)\"", where))
    quoted = {a or b for a, b in quoted_words}
    out: list[tuple[str, bool]] = []
    for word in words:
        if word in quoted:
            out.append((word, True))
            continue
        for piece in re.split(r"(<=|>=|<>|!=|==|=|<|>)", word):
            if piece:
                out.append((piece, False))
    return out


def _clause(
    clause: list[tuple[str, bool]],
    names: dict[str, str],
    values: dict[str, Any],
    where: str,
    prefix: str,
) -> str:
    if len(clause) == 2 and clause[1][0].lower() in _PRESENCE and not clause[1][1]:
        return f"{_PRESENCE[clause[1][0].lower()]}({_name(clause[0][0], names, prefix)})"
    if len(clause) != 3:
        raise FilterError(
            f"--where {where!r}: expected 'attr OP value' clauses joined by and/or "
            "(OP: = <> < <= > >= begins_with contains), or 'attr exists'"
        )
    (attr, _), (op, _), (text, quoted) = clause
    placeholder = f":{prefix or 'v'}{len(values)}"
    values[placeholder] = text if quoted else _value(text)
    if op.lower() in _FUNCTIONS:
        return f"{op.lower()}({_name(attr, names, prefix)}, {placeholder})"
    if op not in _COMPARE:
        raise FilterError(f"--where {where!r}: unknown operator {op!r}")
    return f"{_name(attr, names, prefix)} {_COMPARE[op]} {placeholder}"


def _name(attr: str, names: dict[str, str], prefix: str) -> str:
    # Placeholders for every name: reserved words (state, name, ...) need them anyway.
    for placeholder, name in names.items():
        if name == attr:
            return placeholder
    placeholder = f"#{prefix or 'a'}{len(names)}"
    names[placeholder] = attr
    return placeholder


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    return int(number) if number == number.to_integral_value() and "." not in text else number
