"""The distributed import's state machine definition (ASL), as plain data.

Kept apart from the constructs (infra/bulkimport.py) so that it reads top to bottom and
tests can check it without synthesizing; the numbers come from :data:`fleet.bulkwriter.MAP`,
which the local stand-in follows too.
"""

from __future__ import annotations

from typing import Any

from fleet.bulkwriter import MAP, InvalidRecordsError, MapSettings

from infra import constants as c

__all__ = ["definition", "INVALID_RECORDS_ERROR"]

#: The worker's error for a batch of bad records (the Lambda error type is the class name).
INVALID_RECORDS_ERROR = InvalidRecordsError.__name__


def definition(
    function_arn: str, bucket: str, table: str, settings: MapSettings = MAP
) -> dict[str, Any]:
    """The state machine's ASL: a Choice on the format, then one Distributed Map each.

    Execution input: ``{"prefix": "imports/<table>/...", "format": "jsonl"|"csv",
    "writeUnitsPerSecond": N, "concurrency": N}`` (``fleet import --distributed`` sends it).
    """
    return {
        "Comment": f"Distributed import of S3 objects into the {table} table",
        "StartAt": "ByFormat",
        "States": {
            "ByFormat": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.format", "StringEquals": "csv", "Next": "ImportCsv"}],
                "Default": "ImportJsonLines",
            },
            "ImportJsonLines": _map_state("JSONL", function_arn, bucket, table, settings),
            "ImportCsv": _map_state("CSV", function_arn, bucket, table, settings),
        },
    }


def _map_state(
    input_type: str, function_arn: str, bucket: str, table: str, settings: MapSettings
) -> dict[str, Any]:
    reader_config: dict[str, Any] = {"InputType": input_type, "Transformation": "LOAD_AND_FLATTEN"}
    if input_type == "CSV":
        reader_config["CSVHeaderLocation"] = "FIRST_ROW"
    return {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "ReaderConfig": reader_config,
            "Parameters": {"Bucket": bucket, "Prefix.$": "$.prefix"},
        },
        "ItemBatcher": {
            "MaxItemsPerBatch": settings.max_items_per_batch,
            "MaxInputBytesPerBatch": settings.max_input_bytes_per_batch,
            "BatchInput": {
                "format.$": "$.format",
                "writeUnitsPerSecond.$": "$.writeUnitsPerSecond",
                "concurrency.$": "$.concurrency",
            },
        },
        "MaxConcurrencyPath": "$.concurrency",
        # A failed batch is reported in the results, never a reason to stop the others.
        "ToleratedFailurePercentage": 100,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "WriteBatch",
            "States": {
                "WriteBatch": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "Retry": [
                        # Bad records stay bad: report the batch at once.
                        {"ErrorEquals": [INVALID_RECORDS_ERROR], "MaxAttempts": 0},
                        {
                            "ErrorEquals": ["States.ALL"],
                            "IntervalSeconds": int(settings.retry_interval_seconds),
                            "MaxAttempts": settings.retry_max_attempts,
                            "BackoffRate": settings.retry_backoff_rate,
                            "JitterStrategy": "FULL",
                        },
                    ],
                    "End": True,
                }
            },
        },
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": bucket, "Prefix": f"{c.BULK_RESULTS_PREFIX}/{table}"},
            # Each worker returns a list of given-up items: flattened, one a line, they are
            # a rejects file as `fleet import` writes and reads it.
            "WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSONL"},
        },
        "End": True,
    }
