"""``fleet import ... --distributed`` against a deployed stack: Step Functions, stubbed.

S3 is moto's; CloudFormation and Step Functions answer through botocore's Stubber, which
also checks every request the command sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from fleetcli.bulk import cloudmap, cloudsfn, native
from fleetcli.bulk.cloudmap import MapJob, S3Location
from fleetcli.main import main
from tests.support.handlers import TABLE_NAMES

from .conftest import BUCKET

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:DeviceFleet-dev-bulk-import-devices"
SOURCE = f"s3://{BUCKET}/imports/devices/run-7/"
OUTPUTS = {
    "Stacks": [
        {
            "StackName": "DeviceFleet-dev",
            "CreationTime": "2026-11-01T00:00:00Z",
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": [
                {"OutputKey": "BulkImportDevicesStateMachineArn", "OutputValue": MACHINE},
                {"OutputKey": "BulkImportBucketName", "OutputValue": BUCKET},
            ],
        }
    ]
}


@pytest.fixture
def stubs(s3: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Stubber]:
    clients = {
        n: boto3.client(n, region_name="eu-west-1") for n in ("cloudformation", "stepfunctions")
    }
    monkeypatch.setattr(native, "aws_client", lambda service: clients[service])
    return {name: Stubber(client) for name, client in clients.items()}


def put_results(s3: Any) -> str:
    """What ResultWriter leaves: a manifest, one given-up item, one failed batch."""
    run = "results/devices/5f1c0d2e"
    reject = {"Item": {"deviceId": {"S": "d-9"}, "n": {"N": "9"}}}
    failed = {
        "Status": "FAILED",
        "Error": "Lambda.ServiceException",
        "Cause": "Rate exceeded",
        "Input": json.dumps(
            {"Items": [{"deviceId": "d-20"}, {"deviceId": "d-21"}], "BatchInput": {}}
        ),
    }
    s3.put_object(
        Bucket=BUCKET, Key=f"{run}/SUCCEEDED_0.json", Body=(json.dumps(reject) + "\n").encode()
    )
    s3.put_object(
        Bucket=BUCKET, Key=f"{run}/FAILED_0.json", Body=(json.dumps(failed) + "\n").encode()
    )
    manifest = {
        "DestinationBucket": BUCKET,
        "MapRunArn": "arn:aws:states:...",
        "ResultFiles": {
            "FAILED": [{"Key": f"{run}/FAILED_0.json", "Size": 1}],
            "PENDING": [],
            "SUCCEEDED": [{"Key": f"{run}/SUCCEEDED_0.json", "Size": 1}],
        },
    }
    s3.put_object(Bucket=BUCKET, Key=f"{run}/manifest.json", Body=json.dumps(manifest).encode())
    return f"{run}/manifest.json"


def test_a_run_is_started_followed_and_what_came_back_is_a_rejects_file(
    s3: Any,
    stubs: dict[str, Stubber],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given objects under the state machine's prefix, and a run that gives up 3 items
    s3.put_object(Bucket=BUCKET, Key="imports/devices/run-7/a.jsonl", Body=b'{"deviceId": "d-1"}\n')
    manifest_key = put_results(s3)
    job = MapJob(
        "devices",
        S3Location.parse(SOURCE),
        "jsonl",
        S3Location(BUCKET, "results/devices"),
        table_name=TABLE_NAMES["devices"],
    )
    name = cloudmap.run_name(job, cloudmap.list_objects(s3, job.source))
    execution = f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
    map_run = f"{execution}/map-run-id"
    stubs["cloudformation"].add_response(
        "describe_stacks", OUTPUTS, {"StackName": "DeviceFleet-dev"}
    )
    sfn = stubs["stepfunctions"]
    sfn.add_response(
        "start_execution",
        {"executionArn": execution, "startDate": "2026-11-28T10:00:00Z"},
        {
            "stateMachineArn": MACHINE,
            "name": name,
            "input": json.dumps(
                {
                    "prefix": "imports/devices/run-7/",
                    "format": "jsonl",
                    "writeUnitsPerSecond": 4000.0,
                    "concurrency": 10,
                }
            ),
        },
    )
    for status, output in (
        ("RUNNING", None),
        ("SUCCEEDED", {"ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}),
    ):
        described: dict[str, Any] = {
            "executionArn": execution,
            "stateMachineArn": MACHINE,
            "status": status,
            "startDate": "2026-11-28T10:00:00Z",
        }
        if output:
            described["output"] = json.dumps(output)
        sfn.add_response("describe_execution", described, {"executionArn": execution})
        sfn.add_response(
            "list_map_runs",
            {
                "mapRuns": [
                    {
                        "executionArn": execution,
                        "mapRunArn": map_run,
                        "stateMachineArn": MACHINE,
                        "startDate": "2026-11-28T10:00:00Z",
                    }
                ]
            },
        )
        counts = dict.fromkeys(
            (
                "pending",
                "running",
                "succeeded",
                "failed",
                "timedOut",
                "aborted",
                "total",
                "resultsWritten",
            ),
            0,
        )
        counts.update(total=5, succeeded=3, failed=2)
        sfn.add_response(
            "describe_map_run",
            {
                "mapRunArn": map_run,
                "executionArn": execution,
                "status": status,
                "startDate": "2026-11-28T10:00:00Z",
                "maxConcurrency": 10,
                "toleratedFailurePercentage": 100.0,
                "toleratedFailureCount": 0,
                "itemCounts": counts,
                "executionCounts": counts,
            },
            {"mapRunArn": map_run},
        )
    monkeypatch.chdir(tmp_path)

    # When the distributed import runs against the deployed stack
    with stubs["cloudformation"], sfn:
        code = main(["import", "devices", SOURCE, "--distributed", "--poll-seconds", "0"])

    # Then it exits 1 and the given-up and failed-batch items are in one re-importable file
    out = capsys.readouterr().out
    assert code == 1
    assert "5 items: 2 written, 3 given up, 1 failed batches" in out
    assert "fleet import devices devices-distributed.rejects.jsonl" in out
    lines = [
        json.loads(x)
        for x in (tmp_path / "devices-distributed.rejects.jsonl").read_text().splitlines()
    ]
    assert [x["Item"]["deviceId"]["S"] for x in lines] == ["d-9", "d-20", "d-21"]
    sfn.assert_no_pending_responses()


def test_a_source_outside_the_state_machines_prefix_is_refused(
    s3: Any, stubs: dict[str, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    stubs["cloudformation"].add_response("describe_stacks", OUTPUTS)
    with stubs["cloudformation"], stubs["stepfunctions"]:  # nothing may be started
        code = main(["import", "devices", f"s3://{BUCKET}/elsewhere/", "--distributed"])

    assert code == 2
    assert f"reads only s3://{BUCKET}/imports/devices/" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("status", "how", "redrive"),
    [
        ("FAILED", "redriven", True),
        ("ABORTED", "redriven", True),
        ("RUNNING", "running", False),
        ("SUCCEEDED", "succeeded", False),
    ],
)
def test_the_same_command_again_picks_up_its_execution(
    status: str, how: str, redrive: bool
) -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    stubber = Stubber(client)
    arn = f"{MACHINE.replace(':stateMachine:', ':execution:')}:import-devices-abc"
    stubber.add_client_error("start_execution", "ExecutionAlreadyExists")
    stubber.add_response(
        "describe_execution",
        {
            "executionArn": arn,
            "stateMachineArn": MACHINE,
            "status": status,
            "startDate": "2026-11-28T10:00:00Z",
        },
        {"executionArn": arn},
    )
    if redrive:
        stubber.add_response(
            "redrive_execution", {"redriveDate": "2026-11-28T11:00:00Z"}, {"executionArn": arn}
        )

    with stubber:
        execution = cloudsfn.start_or_resume(client, MACHINE, "import-devices-abc", {})

    assert (execution.arn, execution.how) == (arn, how)
    stubber.assert_no_pending_responses()
