"""The local stand-in for the Distributed Map: S3 objects -> batches -> the same handler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dynabatch import BatchClient
from fleet.bulkwriter import MapSettings
from fleet.runtime import get_runtime

from fleetcli.bulk import cloudmap
from fleetcli.bulk.cloud import local_workers
from fleetcli.bulk.cloudmap import InputProblem, MapJob, S3Location
from fleetcli.bulk.formats import read_items
from tests.support.handlers import TABLE_NAMES

from .conftest import BUCKET

DEVICES = TABLE_NAMES["devices"]
SMALL = MapSettings(max_items_per_batch=40, retry_interval_seconds=0.01)


def put_lines(s3: Any, key: str, records: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def job(fmt: str = "jsonl", concurrency: int = 3) -> MapJob:
    return MapJob(
        table="devices",
        source=S3Location(BUCKET, "imports/devices/run-1/"),
        fmt=fmt,
        results=S3Location(BUCKET, "results/devices"),
        write_units=None,
        concurrency=concurrency,
        settings=SMALL,
        progress=False,
    )


def stored(batch: BatchClient) -> dict[str, dict[str, Any]]:
    return {i["deviceId"]: i for i in batch.scan(DEVICES, consistent_read=True)}


def count_writes(client: Any) -> list[int]:
    calls = [0]

    def seen(**_: Any) -> None:
        calls[0] += 1

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", seen)
    return calls


def test_every_object_under_the_prefix_is_imported_and_a_rerun_writes_nothing(
    s3: Any, batch: BatchClient, tmp_path: Path
) -> None:
    # Given two JSON Lines objects under the run's prefix, and one outside it
    put_lines(s3, "imports/devices/run-1/a.jsonl", [{"deviceId": f"a-{n}"} for n in range(70)])
    put_lines(s3, "imports/devices/run-1/b.jsonl", [{"deviceId": f"b-{n}"} for n in range(50)])
    put_lines(s3, "imports/devices/other/c.jsonl", [{"deviceId": "c-1"}])

    # When the stand-in runs, then exactly the prefix's items are stored
    manifest = cloudmap.run_local(s3, job(), local_workers("devices", 3))
    assert set(stored(batch)) == {f"a-{n}" for n in range(70)} | {f"b-{n}" for n in range(50)}
    report = cloudmap.collect(s3, manifest, "devices", "jsonl", str(tmp_path / "r.jsonl"))
    assert (report.items, report.given_up, report.failed_batches) == (120, 0, 0)
    assert report.local_rejects is None

    # And running the same command again resumes a finished run: not one write is sent
    writes = count_writes(get_runtime().client)
    assert cloudmap.run_local(s3, job(), local_workers("devices", 3)) == manifest
    assert writes == [0]


def test_batches_are_cut_as_item_batcher_cuts_them(s3: Any) -> None:
    put_lines(s3, "imports/devices/run-1/a.jsonl", [{"deviceId": f"a-{n}"} for n in range(95)])
    objects = cloudmap.list_objects(s3, job().source)

    sizes = [len(b) for b in cloudmap.batches(s3, job(), objects)]

    assert sizes == [40, 40, 15]
    by_bytes = MapSettings(max_items_per_batch=1000, max_input_bytes_per_batch=1024 + 200)
    small = MapJob("devices", job().source, "jsonl", job().results, settings=by_bytes)
    assert all(len(json.dumps(b)) <= 200 for b in cloudmap.batches(s3, small, objects))


def test_a_failing_batch_is_retried_then_reported_and_its_items_handed_back(
    s3: Any, batch: BatchClient, tmp_path: Path
) -> None:
    # Given a worker that crashes on every batch holding device a-45 (batch 2 of 3)
    put_lines(
        s3, "imports/devices/run-1/a.jsonl", [{"deviceId": f"a-{n}", "n": n} for n in range(100)]
    )
    real = local_workers("devices", 2)
    attempts = [0]

    def flaky(event: dict[str, Any]) -> list[dict[str, Any]]:
        if any(r["deviceId"] == "a-45" for r in event["Items"]):
            attempts[0] += 1
            raise TimeoutError("Task timed out after 120.00 seconds")
        return real(event)

    waits: list[float] = []
    manifest = cloudmap.run_local(s3, job(concurrency=2), flaky, sleep=waits.append)

    # Then the batch was tried 1 + retry_max_attempts times, with backoff between tries
    assert attempts[0] == 1 + SMALL.retry_max_attempts and len(waits) == SMALL.retry_max_attempts
    # And the other batches are written; the failed one's 40 items land in the rejects file
    assert len(stored(batch)) == 60
    rejects = tmp_path / "devices.rejects.jsonl"
    report = cloudmap.collect(s3, manifest, "devices", "jsonl", str(rejects))
    assert (report.failed_batches, report.given_up) == (1, 40)
    assert "TimeoutError" in report.problems[0]
    reimported = [r.item for r in read_items(str(rejects), "jsonl", "devices")]
    assert {i["deviceId"] for i in reimported} == {f"a-{n}" for n in range(40, 80)}

    # When the same command runs again with a healthy worker, only that batch is written
    writes = count_writes(get_runtime().client)
    manifest = cloudmap.run_local(s3, job(concurrency=2), real)
    assert writes[0] == 2  # 40 items: two 25-item requests, nothing else
    assert len(stored(batch)) == 100
    again = cloudmap.collect(s3, manifest, "devices", "jsonl", str(rejects))
    assert (again.failed_batches, again.given_up) == (0, 0)


def test_invalid_records_fail_their_batch_at_once_and_are_counted(
    s3: Any, batch: BatchClient, tmp_path: Path
) -> None:
    records: list[dict[str, Any]] = [{"deviceId": f"a-{n}"} for n in range(80)]
    records[50] = {"name": "no key"}
    put_lines(s3, "imports/devices/run-1/a.jsonl", records)
    waits: list[float] = []

    manifest = cloudmap.run_local(s3, job(), local_workers("devices", 3), sleep=waits.append)
    report = cloudmap.collect(s3, manifest, "devices", "jsonl", str(tmp_path / "r.jsonl"))

    assert waits == []  # not retried: the input is wrong, not the moment
    assert (report.invalid_records, report.given_up) == (40, 0)
    assert "record 10: missing key attribute 'deviceId'" in report.problems[0]
    assert len(stored(batch)) == 40


def test_csv_objects_read_as_the_maps_csv_reader_does(s3: Any, batch: BatchClient) -> None:
    body = "deviceId,ownerId,level:N\nd-1,u-1,3\nd-2,,4\n"
    s3.put_object(Bucket=BUCKET, Key="imports/devices/run-1/a.csv", Body=body.encode())

    cloudmap.run_local(s3, job(fmt="csv"), local_workers("devices", 1))

    assert stored(batch) == {
        "d-1": {"deviceId": "d-1", "ownerId": "u-1", "level": 3},
        "d-2": {"deviceId": "d-2", "level": 4},
    }


def test_an_empty_prefix_or_a_bad_url_is_bad_input(s3: Any) -> None:
    with pytest.raises(InputProblem, match="no objects"):
        cloudmap.run_local(s3, job(), local_workers("devices", 1))
    with pytest.raises(InputProblem, match="expected s3://bucket/prefix"):
        S3Location.parse("https://example.com/x")


def test_a_local_file_is_checked_then_uploaded_in_parts_under_a_name_from_its_content(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argparse import Namespace

    from fleetcli.bulk import cloud

    source = tmp_path / "devices.csv"
    source.write_text("deviceId,level:N\n" + "".join(f"d-{n},{n}\n" for n in range(30)))
    monkeypatch.setattr(cloud, "PART_BYTES", 300)
    args = Namespace(file=str(source), format=None, table="devices", upload_to=None)

    target = cloud._upload(args, s3, BUCKET, local=False)

    keys = [o["Key"] for o in cloudmap.list_objects(s3, target)]
    assert len(keys) > 1 and all(k.startswith("imports/devices/") for k in keys)
    lines = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
    ]
    # Lossless DynamoDB JSON, the CSV's types kept, every item once and in order
    assert lines[3] == {"Item": {"deviceId": {"S": "d-3"}, "level": {"N": "3"}}}
    assert [x["Item"]["deviceId"]["S"] for x in lines] == [f"d-{n}" for n in range(30)]
    assert args.format == "jsonl"
    args.format = None
    assert cloud._upload(args, s3, BUCKET, local=False) == target  # same file, same prefix
