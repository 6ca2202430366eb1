"""Streaming readers and writers for JSON Lines, JSON (one array) and CSV.

Readers yield one :class:`Record` per item with the byte offset just past it, so an
import can remember "everything before this offset is written" and resume there. No
reader holds more than one record (plus a read buffer) in memory, whatever the file size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import ijson  # type: ignore[import-untyped,unused-ignore]
from fleet.records import (
    ValueProblem,
    cell_text,
    cell_value,
    item_from_record,
    parse_column,
    record_from_item,
)

__all__ = ["FORMATS", "InputError", "Record", "guess_format", "read_items", "ItemWriter"]

FORMATS = ("jsonl", "json", "csv")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
_BLOCK = 1 << 16


class InputError(Exception):
    """Bad input, located: ``str()`` is ``file:line: problem``."""

    def __init__(
        self, path: str, line: int | None, problem: str, attribute: str | None = None
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem, self.attribute = path, line, problem, attribute


@dataclass(frozen=True)
class Record:
    """One item read from a file: its line, and the offset and line number just past it."""

    item: dict[str, Any]
    line: int
    end: int
    next_line: int


def guess_format(path: str, given: str | None) -> str:
    """``given``, or the format the file name says (``.jsonl``, ``.json``, ``.csv``)."""
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(path, None, "cannot tell the format from the name; pass --format")
    return _SUFFIXES[suffix]


def read_items(path: str, fmt: str, table: str, start: int = 0, line: int = 1) -> Iterator[Record]:
    """Items of ``path`` from byte offset ``start`` (a record boundary; ``line`` its number).

    Raises
    ------
    InputError
        At the first record that is not valid, naming its line.
    """
    readers = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv}
    with open(path, "rb") as stream:
        yield from readers[fmt](stream, path, table, start, line)


def _item(record: Any, table: str, path: str, line: int) -> dict[str, Any]:
    try:
        return item_from_record(record, table)
    except ValueProblem as problem:
        raise InputError(path, line, str(problem)) from None


def _read_jsonl(
    stream: IO[bytes], path: str, table: str, start: int, line: int
) -> Iterator[Record]:
    stream.seek(start)
    offset = start
    for raw in stream:
        offset += len(raw)
        text = raw.strip()
        if text:
            try:
                record = json.loads(text, parse_float=Decimal)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise InputError(path, line, f"not valid JSON: {_reason(error)}") from None
            yield Record(_item(record, table, path, line), line, offset, line + 1)
        line += 1


def _reason(error: Exception) -> str:
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


def _read_json(stream: IO[bytes], path: str, table: str, start: int, line: int) -> Iterator[Record]:
    """A JSON array, item by item, streamed with ijson (numbers as ``int``/``Decimal``).

    ijson tells no byte offsets, so a JSON array's position is an item count: ``start``
    items are parsed and skipped on a resume. The file is fed to ijson a line (at most a
    block) at a time, so every item is known to have ended on the line being fed: errors
    name that line, and an item's own line is the first line with content after the item
    before it.
    """
    del line  # an item count, not a line, says where a JSON array resumes
    items = ijson.sendable_list()
    parser = ijson.items_coro(items, "item", use_float=False)
    number, line, first, opened, fresh = 0, 0, None, False, True
    for raw in _blocks(stream):
        line, fresh = line + fresh, raw.endswith(b"\n")
        text = raw.strip()
        if not opened and text:
            if not text.startswith(b"["):
                raise InputError(path, line, "expected a JSON array of items")
            opened = True
        if first is None and text.strip(b"[], \t\r") != b"":
            first = line
        try:
            parser.send(raw)
        except ijson.JSONError as error:
            raise InputError(path, line, _ijson_problem(error)) from None
        for record in items:
            number += 1
            where = first or line
            first = None
            if number > start:
                yield Record(_item(record, table, path, where), where, number, line + 1)
        del items[:]
    if not opened:
        return  # an empty file: no items
    try:
        parser.close()
    except ijson.JSONError as error:
        raise InputError(path, line, _ijson_problem(error)) from None


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    # Lines, cut into blocks: a whole file on one line is still read a block at a time.
    while True:
        raw = stream.readline(_BLOCK)
        if not raw:
            return
        yield raw


def _ijson_problem(error: Exception) -> str:
    text = error.args[0] if error.args else str(error)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    head = str(text).strip().splitlines()[0] if str(text).strip() else str(error)
    if "premature EOF" in head:
        return "unexpected end of file: the array is not closed"
    if "trailing garbage" in head or "Additional data" in head:
        return "unexpected text after the closing ']'"
    return f"not valid JSON: {head}"


def _read_csv(stream: IO[bytes], path: str, table: str, start: int, line: int) -> Iterator[Record]:
    state = {"offset": 0, "lines": 0}

    def lines() -> Iterator[str]:
        # csv.reader pulls exactly the lines of one record per next(): counting what it
        # pulled gives the byte offset just past each record, quoted newlines included.
        for raw in stream:
            state["offset"] += len(raw)
            state["lines"] += 1
            yield raw.decode("utf-8-sig" if state["lines"] == 1 else "utf-8")

    reader = csv.reader(lines())
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as error:
        raise InputError(path, 1, f"not UTF-8 text: {error.reason}") from None
    try:
        columns = [parse_column(spec) for spec in header]
    except ValueProblem as problem:
        raise InputError(path, 1, f"header: {problem}") from None
    if start:
        stream.seek(start)
        state["offset"], state["lines"] = start, line - 1
    else:
        line = state["lines"] + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            raise InputError(path, line, f"not valid CSV: {error}") from None
        if not row or row == [""]:
            line = state["lines"] + 1
            continue
        if len(row) != len(columns):
            raise InputError(path, line, f"{len(row)} fields, the header has {len(columns)}")
        item: dict[str, Any] = {}
        for (name, kind), text in zip(columns, row, strict=True):
            if text == "":
                continue  # an empty cell is an absent attribute
            try:
                value = cell_value(text, kind, name)
            except ValueProblem as problem:
                raise InputError(path, line, str(problem)) from None
            if value is not None:
                item[name] = value
        line, first = state["lines"] + 1, line
        yield Record(item, first, state["offset"], line)


class ItemWriter:
    """Writes items one at a time as JSON Lines, a JSON array or CSV.

    Parameters
    ----------
    stream:
        Text stream to write to.
    fmt:
        ``jsonl``, ``json`` or ``csv``.
    dynamodb_json:
        JSON formats only: write ``{"Item": {...}}`` DynamoDB JSON (lossless).
    columns:
        CSV only: ``name`` or ``name:TYPE`` column specs; other attributes are counted in
        :attr:`dropped` and left out.
    """

    def __init__(
        self,
        stream: IO[str],
        fmt: str,
        *,
        dynamodb_json: bool = False,
        columns: list[str] | None = None,
    ) -> None:
        self.stream, self.fmt, self.dynamodb_json = stream, fmt, dynamodb_json
        self.count = 0
        self.dropped = 0
        self._columns = [parse_column(c) for c in columns or []]
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(columns or [])
        elif fmt == "json":
            stream.write("[")

    def write(self, item: dict[str, Any]) -> None:
        """Write one item (raises :class:`ValueProblem` if the format cannot carry it)."""
        if self._csv is not None:
            names = {name for name, _ in self._columns}
            self.dropped += sum(1 for name in item if name not in names)
            self._csv.writerow([cell_text(item.get(name), name) for name, _ in self._columns])
        else:
            text = json.dumps(
                record_from_item(item, self.dynamodb_json), ensure_ascii=False, default=str
            )
            if self.fmt == "json":
                self.stream.write(("\n" if self.count == 0 else ",\n") + text)
            else:
                self.stream.write(text + "\n")
        self.count += 1

    def close(self) -> None:
        """Finish the document (the JSON array's closing bracket)."""
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")
