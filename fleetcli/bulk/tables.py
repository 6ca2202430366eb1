"""Which table a bulk command works on: one of the project's, or any table at all.

The project's tables (``devices``, ``users``, ``sessions``, ``idempotency``) are named
by their logical name, keep their domain rules (plain-format type hints, the sessions'
expiry shard) and need no DescribeTable. Any other name is a table of its own whose key
schema one DescribeTable tells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from dynabatch import BatchClient
from fleet.sessions import with_expiry_shard
from fleet.tables import ALL_TABLES

from fleetcli.env import table_name

__all__ = ["PROJECT_TABLES", "TableInfo", "NoSuchTable", "resolve"]

#: The shortcuts ``fleet import/export`` offer for completion and in ``--help``.
PROJECT_TABLES = ("devices", "users", "sessions")

_RULES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"sessions": with_expiry_shard}


class NoSuchTable(Exception):
    """The table does not exist where the command looked."""


@dataclass(frozen=True)
class TableInfo:
    """A table as a bulk command needs it.

    ``logical`` is the project's name for it (domain rules and type hints apply), or
    ``""`` for any other table.
    """

    given: str
    physical: str
    key_names: tuple[str, ...]
    key_types: dict[str, str] = field(default_factory=dict)
    logical: str = ""

    def prepare(self, item: dict[str, Any]) -> dict[str, Any]:
        """The table's domain rule applied to one item about to be written."""
        rule = _RULES.get(self.logical)
        return rule(item) if rule else item


def resolve(batch: BatchClient, name: str) -> TableInfo:
    """``name`` as a project table (by logical name) or as any table (DescribeTable).

    Raises
    ------
    NoSuchTable
        DynamoDB knows no table of that name.
    """
    for table in ALL_TABLES:
        if table.logical_name == name:
            types = {a["AttributeName"]: a["AttributeType"] for a in table.attribute_definitions()}
            keys = table.key_names()
            return TableInfo(name, table_name(name), keys, {k: types[k] for k in keys}, name)
    try:
        description = batch.client.describe_table(TableName=name)["Table"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise NoSuchTable(
                f"no table named {name!r} (nor a project table of that name)"
            ) from None
        raise
    schema = sorted(description["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    keys = tuple(k["AttributeName"] for k in schema)
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    return TableInfo(name, name, keys, {k: types.get(k, "S") for k in keys})
