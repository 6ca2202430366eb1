"""``fleet export TABLE s3://...`` and ``fleet import TABLE s3://... --new-table``.

moto 5.1.22 runs both (its export writes the data objects, not DynamoDB's manifest files;
its import reads DynamoDB JSON only); what it does not cover (incremental export, the
manifest, CSV, failures) is checked with botocore's Stubber on the requests sent.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from dynabatch import BatchClient
from fleet.tables import SESSIONS

from fleetcli.bulk import native
from fleetcli.main import main
from tests.support.handlers import TABLE_NAMES

from .conftest import BUCKET

DEVICES = TABLE_NAMES["devices"]
TABLE_ARN = f"arn:aws:dynamodb:eu-west-1:123456789012:table/{DEVICES}"
EXPORT_ARN = f"{TABLE_ARN}/export/01700000000000-abcd1234"


def test_a_full_export_lands_in_s3_and_says_where(
    s3: Any, aws: Any, batch: BatchClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a table with point-in-time recovery on, as the stack deploys it
    aws.update_continuous_backups(
        TableName=DEVICES,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    batch.put_items(DEVICES, [{"deviceId": f"d-{n}", "n": n} for n in range(12)])

    code = main(["export", "devices", f"s3://{BUCKET}/exports/nightly", "--poll-seconds", "0"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "12 items (full)" in out and f"s3://{BUCKET}/exports/nightly/AWSDynamoDB/" in out
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    (data,) = [k for k in keys if k.startswith("exports/nightly/AWSDynamoDB/")]
    lines = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=data)["Body"].read()).splitlines()
    assert {json.loads(x)["Item"]["deviceId"]["S"] for x in lines} == {f"d-{n}" for n in range(12)}


def stubbed_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    stubber = Stubber(client)
    monkeypatch.setattr(native, "aws_client", lambda service: client)
    return stubber


def test_an_incremental_export_asks_for_changes_since_and_prints_the_manifest(
    env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubber = stubbed_dynamodb(monkeypatch)
    stubber.add_response(
        "describe_table", {"Table": {"TableArn": TABLE_ARN}}, {"TableName": DEVICES}
    )
    stubber.add_response(
        "export_table_to_point_in_time",
        {"ExportDescription": {"ExportArn": EXPORT_ARN, "ExportStatus": "IN_PROGRESS"}},
        {
            "TableArn": TABLE_ARN,
            "S3Bucket": "bkt",
            "S3Prefix": "inc",
            "ExportFormat": "DYNAMODB_JSON",
            "ExportType": "INCREMENTAL_EXPORT",
            "IncrementalExportSpecification": {
                "ExportFromTime": datetime(2026, 11, 1, tzinfo=UTC),
                "ExportToTime": ANY,
                "ExportViewType": "NEW_IMAGE",
            },
        },
    )
    manifest = "inc/AWSDynamoDB/01700000000000-abcd1234/manifest-summary.json"
    for status in ("IN_PROGRESS", "COMPLETED"):
        stubber.add_response(
            "describe_export",
            {
                "ExportDescription": {
                    "ExportArn": EXPORT_ARN,
                    "ExportStatus": status,
                    "ItemCount": 7,
                    "ExportManifest": manifest,
                }
            },
            {"ExportArn": EXPORT_ARN},
        )

    with stubber:
        code = main(
            [
                "export",
                "devices",
                "s3://bkt/inc",
                "--since",
                "2026-11-01T00:00:00Z",
                "--poll-seconds",
                "0",
            ]
        )

    out = capsys.readouterr().out
    assert code == 0
    assert "7 items (incremental since 2026-11-01T00:00:00Z)" in out
    assert f"manifest: s3://bkt/{manifest}" in out
    assert "data: s3://bkt/inc/AWSDynamoDB/01700000000000-abcd1234/data/" in out
    stubber.assert_no_pending_responses()


def test_a_failed_export_exits_1_with_the_reason(
    env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubber = stubbed_dynamodb(monkeypatch)
    stubber.add_response("describe_table", {"Table": {"TableArn": TABLE_ARN}})
    stubber.add_response(
        "export_table_to_point_in_time",
        {"ExportDescription": {"ExportArn": EXPORT_ARN, "ExportStatus": "IN_PROGRESS"}},
    )
    stubber.add_response(
        "describe_export",
        {
            "ExportDescription": {
                "ExportArn": EXPORT_ARN,
                "ExportStatus": "FAILED",
                "FailureCode": "PointInTimeRecoveryUnavailableException",
                "FailureMessage": "PITR is not enabled",
            }
        },
    )
    with stubber:
        code = main(["export", "devices", "s3://bkt/x", "--poll-seconds", "0"])

    assert code == 1
    assert "PointInTimeRecoveryUnavailableException" in capsys.readouterr().err


def test_import_table_makes_a_new_table_from_dynamodb_json(
    s3: Any, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given DynamoDB JSON lines, as `fleet export --dynamodb-json` and DynamoDB's export write
    lines = [{"Item": {"deviceId": {"S": f"d-{n}"}, "n": {"N": str(n)}}} for n in range(5)]
    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
    s3.put_object(Bucket=BUCKET, Key="restore/part-0.json", Body=body)

    code = main(
        [
            "import",
            "devices",
            f"s3://{BUCKET}/restore/",
            "--new-table",
            "devices-restored",
            "--poll-seconds",
            "0",
        ]
    )

    assert code == 0, capsys.readouterr()
    assert "COMPLETED, 5 imported, 0 errors" in capsys.readouterr().out
    table = aws.describe_table(TableName="devices-restored")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "deviceId", "KeyType": "HASH"}]
    assert aws.scan(TableName="devices-restored", Select="COUNT")["Count"] == 5


def test_import_table_from_csv_sends_the_table_definition_from_fleet_tables(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=BUCKET, Key="csv/s.csv", Body=b"sessionId,userId\ns-1,u-1\n")
    stubber = stubbed_dynamodb(monkeypatch)
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions-copy/import/01"
    stubber.add_response(
        "import_table",
        {"ImportTableDescription": {"ImportArn": arn, "ImportStatus": "IN_PROGRESS"}},
        {
            "S3BucketSource": {"S3Bucket": BUCKET, "S3KeyPrefix": "csv/"},
            "InputFormat": "CSV",
            "InputFormatOptions": {"Csv": {"Delimiter": ","}},
            "InputCompressionType": "NONE",
            "TableCreationParameters": SESSIONS.create_table_kwargs("sessions-copy"),
        },
    )
    stubber.add_response(
        "describe_import",
        {
            "ImportTableDescription": {
                "ImportArn": arn,
                "ImportStatus": "COMPLETED",
                "ImportedItemCount": 1,
                "ErrorCount": 1,
            }
        },
    )
    with stubber:
        code = main(
            [
                "import",
                "sessions",
                f"s3://{BUCKET}/csv/",
                "--new-table",
                "sessions-copy",
                "--poll-seconds",
                "0",
            ]
        )

    assert code == 1  # an item error is not "all imported"
    stubber.assert_no_pending_responses()


def test_typed_csv_headers_are_refused_before_anything_is_sent(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put_object(Bucket=BUCKET, Key="csv/s.csv", Body=b"sessionId,expiresAt:N\ns-1,5\n")
    stubber = stubbed_dynamodb(monkeypatch)  # no responses queued: any call would fail

    with stubber:
        code = main(["import", "sessions", f"s3://{BUCKET}/csv/", "--new-table", "x-copy"])

    assert code == 2
    assert "ImportTable reads every non-key CSV value as a string" in capsys.readouterr().err


def test_an_s3_source_needs_a_mode(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "devices", "s3://bkt/x"]) == 2
    assert "needs --new-table NAME or --distributed" in capsys.readouterr().err
