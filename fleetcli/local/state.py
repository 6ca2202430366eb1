"""``fleet run --state-dir DIR``: the local tables saved when the stack stops and loaded
when it starts again, so local data survives a restart when asked.

One file per table, ``DIR/<table>.jsonl``: a line per item in DynamoDB JSON (``{"Item":
{"deviceId": {"S": "dev-1"}, ...}}``, binary as base64), the shape of DynamoDB's export
to S3 and of ``fleet export --dynamodb-json``. Each file is written beside its final name
and renamed, so a crash while saving keeps the previous save. A stop that never happens
(``kill -9``, a power cut) keeps the previous save too: saving is on a clean stop only.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from dynabatch import BatchClient

__all__ = ["save_tables", "load_tables", "saved_tables"]


def _encode(value: dict[str, Any]) -> dict[str, Any]:
    """A low-level attribute value made JSON-safe (bytes as base64)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode("ascii") for b in inner]}
    if kind == "M":
        return {"M": {k: _encode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_encode(v) for v in inner]}
    return value


def _decode(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {k: _decode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_decode(v) for v in inner]}
    return value


def saved_tables(state_dir: Path) -> list[str]:
    """Names of the tables saved in ``state_dir`` (none if it is empty or missing)."""
    return sorted(p.stem for p in state_dir.glob("*.jsonl")) if state_dir.is_dir() else []


def save_tables(client: Any, state_dir: Path, tables: list[str]) -> dict[str, int]:
    """Scan each table into ``state_dir``; returns items saved per table."""
    state_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in tables:
        final = state_dir / f"{table}.jsonl"
        partial = final.with_suffix(".jsonl.part")
        count = 0
        with open(partial, "w", encoding="utf-8") as out:
            for page in client.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    out.write(json.dumps({"Item": {k: _encode(v) for k, v in item.items()}}))
                    out.write("\n")
                    count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        counts[table] = count
    return counts


def load_tables(batch: BatchClient, state_dir: Path, tables: list[str]) -> dict[str, int]:
    """Put the saved items of each table back through the batch layer; returns items
    loaded per table."""
    counts = {}
    for table in tables:
        path = state_dir / f"{table}.jsonl"
        if path.exists():
            counts[table] = batch.put_items(table, _items(path)).written
    return counts


def _items(path: Path) -> Iterator[dict[str, Any]]:
    deserialize = TypeDeserializer().deserialize
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)["Item"]
                yield {k: deserialize(_decode(v)) for k, v in record.items()}
