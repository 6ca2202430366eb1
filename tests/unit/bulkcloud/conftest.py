"""moto's DynamoDB and S3 in process; the bulk writer writes the devices table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fleet.observability import metrics

from tests.support.handlers import aws, batch, env  # noqa: F401 - pytest fixtures

BUCKET = "fleet-test-imports"


@pytest.fixture
def s3(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # noqa: F811 - the fixture above
    """An S3 client on moto, with the import bucket made."""
    monkeypatch.setenv("BULK_IMPORT_TABLE", "devices")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    yield client
    # Metrics disabled are never flushed, so never cleared: leave none to other tests
    # (Powertools shares one metric set between every Metrics object of the process).
    metrics.clear_metrics()
