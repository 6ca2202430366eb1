"""The embedded DynamoDB endpoint: moto's server, made safe and fast for many writers.

moto's TransactWriteItems is not isolated: it snapshots every table it touches
(``copy.deepcopy`` of the whole table), applies its writes one by one, and on a failed
condition puts the snapshots back, so any write another thread or process made to those
tables in the meantime is lost, and two transactions can interleave. The deep copy is
also its cost: about 25 ms per 1,000 items in the touched tables, so 2.5 s per transfer
with 100,000 devices.

:func:`harden` changes two things in this process's moto, and nothing else:

- every write (puts, updates, deletes, batch writes, transactions, table changes) holds
  one lock, so a transaction runs alone among writers and its rollback can only undo its
  own writes; reads still run concurrently;
- the snapshot copies the table's index (a shallow dict copy, microseconds per thousand
  items) and deep-copies only the items the transaction names, which is all a rollback
  needs: the other items are never changed by the transaction.

Processes that use this endpoint over HTTP (another ``fleet`` command, a script) go
through the same lock. Two processes each with their own embedded moto share nothing.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["WRITE_LOCK", "harden", "start_moto"]

#: Held by every write to the embedded DynamoDB (re-entrant: a transaction's own puts).
WRITE_LOCK = threading.RLock()
_WRITES = (
    "create_table",
    "delete_table",
    "update_table",
    "put_item",
    "update_item",
    "delete_item",
    "update_time_to_live",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
_hardened = False
_touched = threading.local()


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with WRITE_LOCK:
            return method(*args, **kwargs)

    return write


def _transaction_keys(table: Any, transact_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The keys (DynamoDB JSON) of the items ``transact_items`` touches in ``table``."""
    keys = []
    for entry in transact_items:
        for kind, op in entry.items():
            if op.get("TableName") != table.name:
                continue
            if kind == "Put":
                keys.append({a: op["Item"][a] for a in table.table_key_attrs if a in op["Item"]})
            elif "Key" in op:
                keys.append(op["Key"])
    return keys


def _snapshot(table: Any, transact_items: list[dict[str, Any]]) -> Any:
    """A copy of ``table`` good for a rollback: its own index, shared untouched items."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    clone = copy.copy(table)
    if table.range_key_attr is None:
        clone.items = defaultdict(dict, table.items)
    else:
        clone.items = defaultdict(dict, {h: dict(r) for h, r in table.items.items()})
    for key in _transaction_keys(table, transact_items):
        if table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        if table.range_key_attr is None:
            if hash_value in clone.items:
                clone.items[hash_value] = copy.deepcopy(table.items[hash_value])
        elif table.range_key_attr in key and hash_value in clone.items:
            range_value = DynamoType(key[table.range_key_attr])
            if range_value in clone.items[hash_value]:
                original = table.items[hash_value][range_value]
                clone.items[hash_value][range_value] = copy.deepcopy(original)
    return clone


class _CopyForTransactions:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: the snapshot of a
    table taken by a running transaction is :func:`_snapshot`; everything else is
    ``copy.deepcopy`` as before."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        items = getattr(_touched, "items", None)
        if items is not None and isinstance(value, Table):
            return _snapshot(value, items)
        return copy.deepcopy(value, memo)


def harden() -> None:
    """Install the write lock and the cheap snapshot in moto (once per process)."""
    global _hardened  # a one-time patch of a third-party module
    if _hardened:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    transact = DynamoDBBackend.transact_write_items

    @functools.wraps(transact)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _touched.items = transact_items
        try:
            transact(self, transact_items)
        finally:
            _touched.items = None

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    for name in _WRITES:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    setattr(models, "copy", _CopyForTransactions)  # noqa: B010 - moto's own name
    _hardened = True


def start_moto(port: int) -> tuple[Any, str]:
    """moto's server on ``127.0.0.1:port`` (0: any), hardened; returns it and its URL."""
    from moto.server import ThreadedMotoServer

    harden()
    # werkzeug logs every request at INFO; one line per DynamoDB call is noise here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"
