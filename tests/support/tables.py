"""The batch-layer tests' tables, created once in moto for any fixture that needs them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["create_test_tables"]


def create_test_tables(client: Any, device_tables: Iterable[str] = ("devices",)) -> None:
    """``device_tables`` keyed by ``deviceId`` (S), and ``readings`` keyed by ``deviceId``
    and ``at`` (N), all on demand."""
    for table in device_tables:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    client.create_table(
        TableName="readings",
        KeySchema=[
            {"AttributeName": "deviceId", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "deviceId", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
