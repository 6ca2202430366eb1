"""``fleet apply``: an AWS CLI ``--request-items`` file of any size.

Two shapes, as the AWS CLI takes them (DynamoDB JSON, binary as base64):

- ``batch-write-item``: ``{"Table": [{"PutRequest": {"Item": {...}}}, {"DeleteRequest":
  {"Key": {...}}}, ...]}``. The AWS CLI refuses more than 25 requests; here any number is
  written through the batch layer, and what it could not write after its retries is saved
  as a request-items file that ``fleet apply`` takes again.
- ``batch-get-item``: ``{"Table": {"Keys": [...], "ProjectionExpression": "...",
  "ExpressionAttributeNames": {...}, "ConsistentRead": true}}``. The AWS CLI refuses more
  than 100 keys; here any number is read, and the answer is printed in the CLI's own shape,
  ``{"Responses": {...}, "UnprocessedKeys": {...}}``.

A file may hold both shapes for different tables.
"""

from __future__ import annotations

import decimal
import json
import json.decoder
import json.scanner
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dynabatch import BatchClient, Delete, Put, deserialize_item, serialize_item
from fleet.checks import ItemProblem, check_item
from fleet.records import ValueProblem, wire_from_json, wire_to_json

from .formats import InputError
from .tables import resolve

__all__ = ["ApplyOutcome", "load_request_items", "run_apply"]


@dataclass
class _Parsed:
    writes: list[Put | Delete] = field(default_factory=list)
    gets: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ApplyOutcome:
    """What an apply did; ``unprocessed`` counts writes and keys left over."""

    writes: int = 0
    keys: int = 0
    written: int = 0
    duplicates: int = 0
    retried: int = 0
    read: int = 0
    missing: int = 0
    unprocessed: int = 0
    leftovers_path: str | None = None
    #: Batch-get answer, ``{"Responses": ..., "UnprocessedKeys": ...}``, as the AWS CLI.
    answer: dict[str, Any] | None = None


def load_request_items(path: str) -> dict[str, Any]:
    """Read a request-items file (``file://`` prefix and ``-`` for stdin accepted)."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    try:
        if path == "-":
            document = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as stream:
                document = json.load(stream)
    except json.JSONDecodeError as error:
        raise InputError(path, error.lineno, f"not valid JSON: {error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, None, f"cannot read: {error}") from None
    if isinstance(document, dict) and set(document) == {"RequestItems"}:
        document = document["RequestItems"]  # the whole `--cli-input-json` shape
    if not isinstance(document, dict) or not document:
        raise InputError(path, 1, "expected an object of table name to requests")
    return {str(table): requests for table, requests in document.items()}


def _parse(path: str, document: dict[str, Any]) -> _Parsed:
    parsed = _Parsed()
    for table, requests in document.items():
        where = f"table {table!r}"
        route: list[str | int] = [table]
        try:
            if isinstance(requests, list):
                for index, request in enumerate(requests):
                    route = [table, index]
                    parsed.writes.append(_write_op(table, request, f"{where} request {index}"))
            elif isinstance(requests, dict) and "Keys" in requests:
                parsed.gets[table] = _get_request(requests, where)
            else:
                raise ValueProblem(f"{where}: expected a list of write requests or {{'Keys'}}")
        except ValueProblem as problem:
            raise InputError(path, line_of(path, route), str(problem)) from None
    return parsed


def line_of(path: str, route: list[str | int]) -> int | None:
    """The line where the JSON value at ``route`` (table, index...) starts in ``path``.

    Only called on an error: the file is parsed again with json's pure-Python scanner,
    whose object parser can be wrapped to remember where each object starts.
    """
    if path.startswith("file://"):
        path = path[len("file://") :]
    if path == "-":
        return None
    starts: dict[int, int] = {}
    parse = json.decoder.JSONObject  # type: ignore[attr-defined]

    def remember(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        value, end = parse(s_and_end, *args, **kwargs)
        starts[id(value)] = s_and_end[1] - 1
        return value, end

    decoder = json.JSONDecoder()
    decoder.parse_object = remember  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        node: Any = decoder.decode(text)
        if isinstance(node, dict) and set(node) == {"RequestItems"}:
            node = node["RequestItems"]
        for step in route:
            node = node[step]
    except (OSError, ValueError, LookupError, TypeError):
        return None
    start = starts.get(id(node))
    return None if start is None else text.count("\n", 0, start) + 1


def _write_op(table: str, request: Any, where: str) -> Put | Delete:
    if isinstance(request, dict) and set(request) == {"PutRequest"}:
        item = (
            request["PutRequest"].get("Item") if isinstance(request["PutRequest"], dict) else None
        )
        return Put(table, _plain(item, f"{where}: PutRequest.Item"))
    if isinstance(request, dict) and set(request) == {"DeleteRequest"}:
        body = request["DeleteRequest"]
        key = body.get("Key") if isinstance(body, dict) else None
        return Delete(table, _plain(key, f"{where}: DeleteRequest.Key"))
    raise ValueProblem(f"{where}: expected one PutRequest or DeleteRequest")


def _plain(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ValueProblem(f"{where} must be a non-empty object of DynamoDB JSON values")
    wire = wire_from_json(value)
    plain: dict[str, Any] = {}
    for name, attribute in wire.items():
        try:
            plain.update(deserialize_item({name: attribute}))
        except decimal.DecimalException:
            raise ValueProblem(
                f"{where}: attribute {name!r}: number out of DynamoDB's range or over 38 "
                f"digits: {attribute}"
            ) from None
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ValueProblem(f"{where}: not valid DynamoDB JSON ({error})") from None
    return plain


def _get_request(request: dict[str, Any], where: str) -> dict[str, Any]:
    known = {"Keys", "ProjectionExpression", "ExpressionAttributeNames", "ConsistentRead"}
    unknown = set(request) - known
    if unknown:
        raise ValueProblem(f"{where}: unknown fields {sorted(unknown)}")
    keys = request["Keys"]
    if not isinstance(keys, list) or not keys:
        raise ValueProblem(f"{where}: Keys must be a non-empty list")
    plain = [_plain(key, f"{where} key {i}") for i, key in enumerate(keys)]
    projection = request.get("ProjectionExpression")
    names = request.get("ExpressionAttributeNames") or {}
    attributes = None
    if projection:
        # The layer builds its own placeholders from attribute names: resolve the file's.
        attributes = [names.get(p.strip(), p.strip()) for p in projection.split(",")]
    return {
        "keys": plain,
        "projection": attributes,
        "consistent": bool(request.get("ConsistentRead")),
    }


def run_apply(
    path: str, batch: BatchClient, leftovers_path: str, *, dry_run: bool = False
) -> ApplyOutcome:
    """Apply every request of the file; see the module docstring.

    Every request is checked (keys, types, numbers, sizes) before anything is sent.

    Raises
    ------
    InputError
        The file is not a request-items document, or a request is bad (nothing is sent).
    """
    parsed = _parse(path, load_request_items(path))
    _check(path, parsed, batch)
    outcome = ApplyOutcome(
        writes=len(parsed.writes), keys=sum(len(g["keys"]) for g in parsed.gets.values())
    )
    if dry_run:
        return outcome
    leftovers: dict[str, Any] = {}
    if parsed.writes:
        result = batch.write_items(parsed.writes, raise_on_unprocessed=False)
        outcome.written, outcome.duplicates = result.written, result.superseded
        outcome.retried += result.retries
        for table, requests in result.unprocessed.items():
            leftovers[table] = [_wire_request(r) for r in requests]
            outcome.unprocessed += len(requests)
    if parsed.gets:
        outcome.answer = _read(parsed.gets, batch, outcome)
        for table, request in outcome.answer["UnprocessedKeys"].items():
            leftovers[table] = request
    if leftovers:
        with open(leftovers_path, "w", encoding="utf-8") as stream:
            json.dump(leftovers, stream, indent=2)
        outcome.leftovers_path = leftovers_path
    return outcome


def _check(path: str, parsed: _Parsed, batch: BatchClient) -> None:
    """Every put is a whole valid item and every key exactly a key, as DynamoDB checks."""
    tables: dict[str, Any] = {}

    def info(name: str) -> Any:
        if name not in tables:
            tables[name] = resolve(batch, name)
        return tables[name]

    counters: dict[str, int] = {}
    for op in parsed.writes:
        table = info(op.table)
        index = counters.get(op.table, 0)
        counters[op.table] = index + 1
        where = f"table {op.table!r} request {index}"
        try:
            if isinstance(op, Put):
                check_item(op.item, table.key_names, table.key_types, table.physical)
            else:
                _check_key(op.key, table, where)
        except ItemProblem as problem:
            line = line_of(path, [op.table, index])
            raise InputError(path, line, f"{where}: {problem}", problem.attribute) from None
    for name, get in parsed.gets.items():
        table = info(name)
        for index, key in enumerate(get["keys"]):
            try:
                _check_key(key, table, f"table {name!r} key {index}")
            except ItemProblem as problem:
                line = line_of(path, [name, "Keys", index])
                raise InputError(
                    path, line, f"table {name!r} key {index}: {problem}", problem.attribute
                ) from None


def _check_key(key: Mapping[str, Any], table: Any, where: str) -> None:
    extra = sorted(set(key) - set(table.key_names))
    if extra:
        raise ItemProblem(
            extra[0], f"not a key attribute of the table (its key: {table.key_names})"
        )
    check_item(key, table.key_names, table.key_types, table.physical)


def _read(
    gets: dict[str, dict[str, Any]], batch: BatchClient, outcome: ApplyOutcome
) -> dict[str, Any]:
    result = batch.get_items(
        {table: get["keys"] for table, get in gets.items()},
        projection={t: g["projection"] for t, g in gets.items() if g["projection"]} or None,
        consistent_read={t: g["consistent"] for t, g in gets.items()},
        raise_on_unprocessed=False,
    )
    responses = {
        table: [wire_to_json(serialize_item(item)) for item in items]
        for table, items in result.items.items()
    }
    unprocessed = {
        table: {"Keys": [wire_to_json(serialize_item(k)) for k in keys]}
        for table, keys in result.unprocessed.items()
        if keys
    }
    outcome.retried += result.retries
    outcome.read = sum(len(v) for v in result.items.values())
    outcome.missing = sum(len(v) for v in result.missing.values())
    outcome.unprocessed += sum(len(v["Keys"]) for v in unprocessed.values())
    return {"Responses": responses, "UnprocessedKeys": unprocessed}


def _wire_request(request: dict[str, Any]) -> dict[str, Any]:
    if "PutRequest" in request:
        return {"PutRequest": {"Item": wire_to_json(serialize_item(request["PutRequest"]["Item"]))}}
    return {"DeleteRequest": {"Key": wire_to_json(serialize_item(request["DeleteRequest"]["Key"]))}}
