"""Distributed import: S3 objects in batches through the bulk-writer, and what came back.

Deployed, Step Functions' Distributed Map does the reading, batching, fan-out and retries
(infra/bulkimport.py; :mod:`fleetcli.bulk.cloudsfn` drives it). With no AWS account,
:func:`run_local` is a stand-in for it, not a replacement: it reads the same objects from
S3 (moto's), cuts the same batches (ItemBatcher's limits from :data:`fleet.bulkwriter.MAP`),
and calls the same handler in-process on N threads, retrying failed batches as the map's
Retry does. Both end with the same layout in S3, the one ResultWriter writes::

    RESULTS/RUN/manifest.json          {"ResultFiles": {"SUCCEEDED": [...], "FAILED": [...]}}
    RESULTS/RUN/SUCCEEDED_0.json       JSON Lines: one given-up item a line, {"Item": ...}
    RESULTS/RUN/FAILED_0.json          JSON Lines: batches that failed, with their input

and :func:`collect` turns that into a local rejects file that ``fleet import`` re-imports.

Resuming the stand-in: each settled batch leaves a marker under ``RESULTS/RUN/batches/``;
a rerun of the same command (same objects, so the same RUN) skips the batches that
succeeded and writes nothing twice; batches that failed run again (as a redrive does).
A batch cut off mid-way (Ctrl-C, a crash) has no marker and is written again whole: a put
of the same item is idempotent per key, so the table ends the same, at the cost of that
batch's write units once more (at most ``concurrency`` batches).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from fleet.bulkwriter import MAP, InvalidRecordsError, MapSettings, items_from_records
from fleet.records import record_from_item
from fleet.tables import ALL_TABLES

from .progress import progress_bar

__all__ = [
    "S3Location",
    "MapJob",
    "RunReport",
    "Invoke",
    "InputProblem",
    "run_name",
    "list_objects",
    "batches",
    "run_local",
    "collect",
]

#: What a batch invocation looks like from here: the map's event in, the worker's list out.
Invoke = Callable[[dict[str, Any]], list[dict[str, Any]]]
INVALID_ERROR = InvalidRecordsError.__name__


class InputProblem(ValueError):
    """Bad input to a distributed run (a bad URL, an empty prefix, changed objects)."""


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Raises :class:`InputProblem` for anything but ``s3://bucket[/prefix]``."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InputProblem(f"{url}: expected s3://bucket/prefix")
        return cls(parsed.netloc, parsed.path.lstrip("/"))

    def child(self, *parts: str) -> S3Location:
        """A key or prefix under this one."""
        base = self.prefix.rstrip("/")
        return S3Location(self.bucket, "/".join(p for p in (base, *parts) if p))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class MapJob:
    """One distributed import: from ``source`` into ``table``, results under ``results``."""

    table: str
    source: S3Location
    fmt: str
    results: S3Location
    write_units: float | None = MAP.write_units_per_second
    concurrency: int = MAP.concurrency
    settings: MapSettings = MAP
    progress: bool | None = None
    #: The table's deployed name: the same file into another table is another run.
    table_name: str = ""
    #: Set (``--restart``): a new run, not the resumption of the last one.
    fresh: str = ""

    def batch_input(self) -> dict[str, Any]:
        """The map's ``BatchInput``: what every batch of the run shares."""
        return {
            "format": self.fmt,
            "writeUnitsPerSecond": self.write_units or 0,
            "concurrency": self.concurrency,
        }


@dataclass
class RunReport:
    """Where a run's results are and what they hold, once collected."""

    run: str
    manifest: str
    items: int = 0
    given_up: int = 0
    failed_batches: int = 0
    invalid_records: int = 0
    problems: list[str] = field(default_factory=list)
    rejects_files: list[str] = field(default_factory=list)
    local_rejects: str | None = None


def list_objects(s3: Any, source: S3Location) -> list[dict[str, Any]]:
    """The data objects under ``source`` (folders and empty objects left out), by key."""
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=source.bucket, Prefix=source.prefix
    ):
        objects.extend(o for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    return sorted((o for o in objects if o.get("Size", 1) > 0), key=lambda o: o["Key"])


def run_name(job: MapJob, objects: Sequence[dict[str, Any]]) -> str:
    """A name that is the same for the same objects into the same table: reruns resume."""
    digest = hashlib.sha256()
    for part in (job.table, job.table_name, job.fmt, str(job.source)):
        digest.update(part.encode() + b"\0")
    for obj in objects:
        digest.update(f"{obj['Key']}\0{obj.get('ETag', '')}\0{obj.get('Size', 0)}\0".encode())
    name = f"import-{job.table}-{digest.hexdigest()[:16]}"
    return f"{name}-{job.fresh}" if job.fresh else name


def _records(body: bytes, fmt: str, key: str) -> Iterator[Any]:
    # As the map's ItemReader parses objects: a JSON value a line, or CSV rows keyed by the
    # first row (the header). Plain json.loads, as the Lambda runtime decodes the event.
    text = body.decode("utf-8-sig")
    if fmt == "csv":
        yield from csv.DictReader(io.StringIO(text, newline=""))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise InputProblem(f"{key}:{number}: not valid JSON: {error.msg}") from None


def batches(s3: Any, job: MapJob, objects: Sequence[dict[str, Any]]) -> Iterator[list[Any]]:
    """The run's batches in order, cut as ItemBatcher cuts them (items and bytes)."""
    limit_items = job.settings.max_items_per_batch
    # The batch travels as JSON with its BatchInput: leave room for that envelope.
    limit_bytes = job.settings.max_input_bytes_per_batch - 1024
    batch: list[Any] = []
    size = 0
    for obj in objects:
        body = s3.get_object(Bucket=job.source.bucket, Key=obj["Key"])["Body"].read()
        for record in _records(body, job.fmt, obj["Key"]):
            record_bytes = len(json.dumps(record)) + 2  # and its ", " in the list
            if batch and (len(batch) >= limit_items or size + record_bytes > limit_bytes):
                yield batch
                batch, size = [], 0
            batch.append(record)
            size += record_bytes
    if batch:
        yield batch


def _marker(job: MapJob, run: str, index: int, status: str) -> str:
    return job.results.child(run, "batches", f"{index:08d}.{status}.json").prefix


def _settled(s3: Any, job: MapJob, run: str) -> dict[int, str]:
    """Batch index -> status (SUCCEEDED or FAILED) of the batches a run already settled."""
    done: dict[int, str] = {}
    prefix = job.results.child(run, "batches").prefix + "/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=job.results.bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            index, status, _ = obj["Key"].rsplit("/", 1)[1].split(".")
            done[int(index)] = status
    return done


def _invoke_with_retry(
    invoke: Invoke, event: dict[str, Any], settings: MapSettings, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """One batch as the map runs it: retried with backoff and full jitter, then settled."""
    for attempt in range(settings.retry_max_attempts + 1):
        try:
            return {"Status": "SUCCEEDED", "Output": invoke(event)}
        except InvalidRecordsError as error:  # retrying cannot fix the input
            return _failed(event, INVALID_ERROR, str(error))
        except Exception as error:
            if attempt == settings.retry_max_attempts:
                return _failed(event, type(error).__name__, str(error))
            ceiling = settings.retry_interval_seconds * settings.retry_backoff_rate**attempt
            sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not secrecy
    raise AssertionError("unreachable")  # pragma: no cover


def _failed(event: dict[str, Any], error: str, cause: str) -> dict[str, Any]:
    return {"Status": "FAILED", "Input": json.dumps(event), "Error": error, "Cause": cause}


def run_local(
    s3: Any,
    job: MapJob,
    invoke: Invoke,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run ``job`` in-process (N threads); returns the manifest's ``s3://`` location.

    Raises
    ------
    InputProblem
        Nothing to import under the source prefix, or an object is not valid JSON Lines.
    """
    objects = list_objects(s3, job.source)
    if not objects:
        raise InputProblem(f"{job.source}: no objects to import")
    run = run_name(job, objects)
    done = _settled(s3, job, run)
    total = sum(int(o.get("Size", 0)) for o in objects)
    bar = progress_bar(job.progress, f"import {job.table} (local map)", None)
    bar.set_postfix_str(f"{len(objects)} objects, {total:,} bytes")
    shared = job.batch_input()
    with ThreadPoolExecutor(max_workers=job.concurrency, thread_name_prefix="map") as pool:
        running: dict[Future[dict[str, Any]], tuple[int, int]] = {}
        items = 0
        try:
            for index, batch in enumerate(batches(s3, job, objects)):
                items += len(batch)
                if done.get(index) == "SUCCEEDED":
                    bar.update(len(batch))  # written by an earlier run: not again
                    continue
                if index in done:  # failed before: run it again, as a redrive does
                    s3.delete_object(
                        Bucket=job.results.bucket, Key=_marker(job, run, index, "FAILED")
                    )
                while len(running) >= job.concurrency:
                    _settle(
                        s3, job, run, running, bar, wait(running, return_when=FIRST_COMPLETED)[0]
                    )
                event = {"Items": batch, "BatchInput": shared}
                future = pool.submit(_invoke_with_retry, invoke, event, job.settings, sleep)
                running[future] = (index, len(batch))
            while running:
                _settle(s3, job, run, running, bar, wait(running, return_when=FIRST_COMPLETED)[0])
        finally:
            for future in running:
                future.cancel()
            bar.close()
    return _write_manifest(s3, job, run, items)


def _settle(
    s3: Any,
    job: MapJob,
    run: str,
    running: dict[Future[dict[str, Any]], tuple[int, int]],
    bar: Any,
    finished: set[Future[dict[str, Any]]],
) -> None:
    for future in finished:
        index, count = running.pop(future)
        result = future.result()
        s3.put_object(
            Bucket=job.results.bucket,
            Key=_marker(job, run, index, result["Status"]),
            Body=json.dumps(result).encode(),
        )
        bar.update(count)


def _write_manifest(s3: Any, job: MapJob, run: str, items: int) -> str:
    """Gather the markers into ResultWriter's layout (FLATTEN, JSON Lines)."""
    succeeded: list[str] = []
    failed: list[str] = []
    prefix = job.results.child(run, "batches").prefix + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=job.results.bucket, Prefix=prefix
    ):
        for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
            result = json.loads(
                s3.get_object(Bucket=job.results.bucket, Key=obj["Key"])["Body"].read()
            )
            if result["Status"] == "SUCCEEDED":
                succeeded.extend(json.dumps(r) for r in result["Output"])
            else:
                failed.append(json.dumps(result))
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, lines in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        if lines:
            key = job.results.child(run, f"{status}_0.json").prefix
            body = ("\n".join(lines) + "\n").encode()
            s3.put_object(Bucket=job.results.bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest_key = job.results.child(run, "manifest.json").prefix
    manifest = {
        "DestinationBucket": job.results.bucket,
        "MapRunArn": f"local:{run}",
        "ResultFiles": files,
        # The stand-in's own addition: a deployed run's count comes from DescribeMapRun.
        "ItemCount": items,
    }
    s3.put_object(Bucket=job.results.bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    return f"s3://{job.results.bucket}/{manifest_key}"


def _lines(body: bytes) -> Iterator[Any]:
    # ResultWriter writes JSON Lines here (OutputType JSONL); a JSON array is read too.
    text = body.decode("utf-8").strip()
    if text.startswith("["):
        yield from json.loads(text)
        return
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def collect(s3: Any, manifest_url: str, table: str, fmt: str, local_rejects: str) -> RunReport:
    """Read a run's results: given-up items and failed batches into one local rejects file.

    Failed batches (retries spent) are written to the rejects file too, item by item, so
    nothing is dropped; batches of invalid records are counted, their problems kept, and
    their records left in ``FAILED_*`` (they need fixing, not retrying).
    """
    manifest_at = S3Location.parse(manifest_url)
    manifest = json.loads(
        s3.get_object(Bucket=manifest_at.bucket, Key=manifest_at.prefix)["Body"].read()
    )
    bucket = manifest.get("DestinationBucket", manifest_at.bucket)
    run = manifest_at.prefix.rstrip("/").rsplit("/", 2)[-2]
    report = RunReport(run=run, manifest=manifest_url, items=int(manifest.get("ItemCount", 0)))
    definition = next(t for t in ALL_TABLES if t.logical_name == table)
    with open(local_rejects, "w", encoding="utf-8") as out:
        for entry in manifest["ResultFiles"].get("SUCCEEDED", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            for record in _lines(body):
                if isinstance(record, dict) and "Item" in record:
                    out.write(json.dumps(record) + "\n")
                    report.given_up += 1
            if report.given_up:
                report.rejects_files.append(f"s3://{bucket}/{entry['Key']}")
        for entry in manifest["ResultFiles"].get("FAILED", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            for failure in _lines(body):
                report.failed_batches += 1
                records = json.loads(failure.get("Input") or "{}").get("Items") or []
                if failure.get("Error") == INVALID_ERROR:
                    report.invalid_records += len(records)
                    report.problems.append(str(failure.get("Cause", ""))[:300])
                    continue
                report.problems.append(f"{failure.get('Error')}: {str(failure.get('Cause'))[:200]}")
                try:
                    items = items_from_records(records, fmt, definition)
                except InvalidRecordsError as error:
                    report.invalid_records += len(records)
                    report.problems.append(str(error)[:300])
                    continue
                for item in items:
                    out.write(json.dumps(record_from_item(item, dynamodb_json=True)) + "\n")
                    report.given_up += 1
    report.local_rejects = local_rejects if report.given_up else None
    return report
