"""The one definition of every table: keys, indexes, TTL and the env var naming it.

The CDK stack, the local stack, the functions and the tests all read these; no key schema
is written down anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Attribute",
    "Index",
    "TableDef",
    "DEVICES",
    "USERS",
    "SESSIONS",
    "IDEMPOTENCY",
    "ALL_TABLES",
    "EXPIRY_INDEX",
    "EXPIRY_SHARDS",
]

AttributeType = Literal["S", "N", "B"]


@dataclass(frozen=True)
class Attribute:
    """A key attribute: its name and DynamoDB scalar type."""

    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class Index:
    """A global secondary index. ``projection`` is ``KEYS_ONLY``, ``ALL`` or attribute names."""

    name: str
    partition: Attribute
    sort: Attribute | None = None
    projection: Literal["KEYS_ONLY", "ALL"] | tuple[str, ...] = "KEYS_ONLY"

    def key_names(self) -> tuple[str, ...]:
        """Partition key name, then sort key name if any."""
        return (self.partition.name,) + ((self.sort.name,) if self.sort else ())


@dataclass(frozen=True)
class TableDef:
    """One DynamoDB table as the application sees it.

    ``logical_name`` names it in code and the stack; the deployed name reaches functions
    through the environment variable ``env_var``.
    """

    logical_name: str
    env_var: str
    partition: Attribute
    sort: Attribute | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)

    def key_names(self) -> tuple[str, ...]:
        """Partition key name, then sort key name if any."""
        return (self.partition.name,) + ((self.sort.name,) if self.sort else ())

    def attribute_definitions(self) -> list[dict[str, str]]:
        """Every attribute used in a key of the table or one of its indexes, once."""
        seen: dict[str, str] = {}
        for attribute in (self.partition, self.sort, *self._index_attributes()):
            if attribute is not None:
                seen.setdefault(attribute.name, attribute.type)
        return [{"AttributeName": n, "AttributeType": t} for n, t in seen.items()]

    def _index_attributes(self) -> list[Attribute | None]:
        return [a for index in self.indexes for a in (index.partition, index.sort)]

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """``CreateTable`` parameters (on-demand) for the local stack and the tests."""
        key_schema = [{"AttributeName": self.partition.name, "KeyType": "HASH"}]
        if self.sort:
            key_schema.append({"AttributeName": self.sort.name, "KeyType": "RANGE"})
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": key_schema,
            "AttributeDefinitions": self.attribute_definitions(),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [_index_kwargs(i) for i in self.indexes]
        return kwargs


def _index_kwargs(index: Index) -> dict[str, Any]:
    key_schema = [{"AttributeName": index.partition.name, "KeyType": "HASH"}]
    if index.sort:
        key_schema.append({"AttributeName": index.sort.name, "KeyType": "RANGE"})
    if isinstance(index.projection, tuple):
        projection: dict[str, Any] = {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": list(index.projection),
        }
    else:
        projection = {"ProjectionType": index.projection}
    return {"IndexName": index.name, "KeySchema": key_schema, "Projection": projection}


#: Sessions are spread over this many index partitions ("0".."15") so that no single
#: partition of the expiry index takes every session write.
EXPIRY_SHARDS = 16

#: Sparse, sharded index of sessions by expiry: only sessions carrying ``expiryShard``
#: are in it, sorted by ``expiresAt`` within each shard, so "expiresAt <= now" reads
#: only expired sessions (and "> now" only live ones). ``userId`` is projected so the
#: warmer finds the users of live sessions from the index alone.
EXPIRY_INDEX = Index(
    name="expiry-index",
    partition=Attribute("expiryShard", "S"),
    sort=Attribute("expiresAt", "N"),
    projection=("userId",),
)

DEVICES = TableDef("devices", "DEVICES_TABLE", Attribute("deviceId"))
USERS = TableDef("users", "USERS_TABLE", Attribute("userId"))
SESSIONS = TableDef(
    "sessions",
    "SESSIONS_TABLE",
    Attribute("sessionId"),
    ttl_attribute="expiresAt",
    indexes=(EXPIRY_INDEX,),
)
#: Powertools' idempotency table layout (partition key ``id``, TTL on ``expiration``).
IDEMPOTENCY = TableDef(
    "idempotency", "IDEMPOTENCY_TABLE", Attribute("id"), ttl_attribute="expiration"
)

ALL_TABLES: tuple[TableDef, ...] = (DEVICES, USERS, SESSIONS, IDEMPOTENCY)
