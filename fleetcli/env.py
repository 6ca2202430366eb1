"""Where the command line's DynamoDB is, what its tables are called, and the batch client.

The endpoint follows botocore's own rules (``AWS_ENDPOINT_URL_DYNAMODB``,
``AWS_ENDPOINT_URL``, the profile) unless ``--endpoint-url`` is given. Against a local
endpoint nothing needs an AWS account: missing credentials and region get dummy values.
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import boto3
from dynabatch import BatchClient, RetryPolicy, make_client
from fleet.tables import ALL_TABLES

__all__ = [
    "LOCAL_REGION",
    "add_connection_arguments",
    "apply_connection",
    "table_name",
    "batch_client",
    "CountingMetrics",
    "CLIENT_HOOKS",
    "DEFAULT_MAX_ATTEMPTS",
]

#: Called with every DynamoDB client the command line makes, before it is used: a place
#: to register botocore event hooks (the tests make DynamoDB refuse or throttle in
#: process this way, as botocore's Stubber would).
CLIENT_HOOKS: list[Callable[[Any], None]] = []

#: Sends per item before it is given up (``--max-attempts``).
DEFAULT_MAX_ATTEMPTS = 10

LOCAL_REGION = "us-east-1"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0")  # noqa: S104 - a name to compare


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint-url``, ``--profile``, ``--region``: the AWS CLI's own spelling."""
    group = parser.add_argument_group("DynamoDB connection (default: botocore's settings)")
    group.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. http://127.0.0.1:8000")
    group.add_argument("--profile", help="AWS profile to use (real account)")
    group.add_argument("--region", help="AWS region")


def is_local(endpoint: str | None) -> bool:
    """True for an endpoint on this machine (moto, DynamoDB Local)."""
    return bool(endpoint) and urlparse(endpoint).hostname in _LOOPBACK


def apply_connection(args: argparse.Namespace) -> str | None:
    """Put the connection flags into this process's environment; returns the endpoint.

    The environment is what botocore, the batch layer and the Lambda handlers all read,
    so one place configures every client made after this call.
    """
    if getattr(args, "endpoint_url", None):
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = args.endpoint_url
    if getattr(args, "profile", None):
        os.environ["AWS_PROFILE"] = args.profile
    if getattr(args, "region", None):
        os.environ["AWS_DEFAULT_REGION"] = args.region
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
    if is_local(endpoint):
        use_dummy_credentials()
    return endpoint


def use_dummy_credentials() -> None:
    """A local endpoint checks no signature: supply credentials and region if none are set."""
    session = boto3.session.Session()
    if session.get_credentials() is None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    if not session.region_name:
        os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)


def table_name(logical: str) -> str:
    """The table's name: its variable (``DEVICES_TABLE``...) if set, else the logical name."""
    for table in ALL_TABLES:
        if table.logical_name == logical:
            return os.environ.get(table.env_var) or logical
    return logical


def set_table_variables() -> dict[str, str]:
    """Set every table variable that is not set yet; returns logical name -> table name."""
    names = {}
    for table in ALL_TABLES:
        names[table.logical_name] = os.environ.setdefault(table.env_var, table.logical_name)
    return names


class CountingMetrics:
    """A metrics sink that sums what the batch layer reports, for the final summary."""

    def __init__(self) -> None:
        self.totals: defaultdict[str, float] = defaultdict(float)

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.totals[name] += value

    def total(self, suffix: str) -> int:
        """Sum of every operation's ``<Operation><suffix>`` counter."""
        return int(sum(v for k, v in self.totals.items() if k.endswith(suffix)))


def batch_client(
    concurrency: int,
    metrics: CountingMetrics | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> BatchClient:
    """A batch client for the known tables (keys from ``fleet.tables``, no DescribeTable)."""
    key_schemas = {table_name(t.logical_name): t.key_names() for t in ALL_TABLES}
    client = make_client(concurrency)
    for hook in CLIENT_HOOKS:
        hook(client)
    return BatchClient(
        client,
        concurrency=concurrency,
        metrics=metrics,
        key_schemas=key_schemas,
        retry=RetryPolicy(max_attempts=max_attempts, max_delay=5.0),
    )
