"""The deployed distributed import: start (or resume) the stack's state machine, follow it.

The execution is named after the run (:func:`fleetcli.bulk.cloudmap.run_name`: the table,
the format and the objects' keys and ETags), so running the same command again finds the
same execution instead of starting a second one:

- still running: follow it;
- failed, timed out or stopped: ``RedriveExecution``. Step Functions re-runs only the
  batches that did not succeed; batches that succeeded are not written again. A batch that
  failed half-way is re-run whole: its re-puts are idempotent per key (same item, same
  table) and cost its write units once more;
- succeeded: report its results again, writing nothing.

Redrive is possible for 14 days after the execution stopped; after that, or with
``--restart``, a new execution (a new name) runs everything again, idempotently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .progress import progress_bar

__all__ = ["Deployment", "Execution", "find_deployment", "start_or_resume", "follow"]

#: Output names of the stack (infra/bulkimport.py writes them).
BUCKET_OUTPUT = "BulkImportBucketName"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")


def state_machine_output(table: str) -> str:
    """The stack output naming the state machine that imports into ``table``."""
    return f"BulkImport{table.capitalize()}StateMachineArn"


@dataclass(frozen=True)
class Deployment:
    """Where the stack's distributed import lives."""

    state_machine_arn: str
    bucket: str


@dataclass(frozen=True)
class Execution:
    """An execution of the import and how this command came to it."""

    arn: str
    how: str  # "started", "redriven", "running" or "succeeded"


def find_deployment(cloudformation: Any, stack_name: str, table: str) -> Deployment:
    """Read the state machine and bucket from the stack's outputs.

    Raises
    ------
    LookupError
        The stack has no distributed import for ``table`` (deployed with it turned off).
    """
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    wanted = state_machine_output(table)
    if wanted not in outputs or BUCKET_OUTPUT not in outputs:
        raise LookupError(
            f"stack {stack_name} has no {wanted} output: deploy it with the distributed "
            "import on (context bulkImport=true, the default)"
        )
    return Deployment(outputs[wanted], outputs[BUCKET_OUTPUT])


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def start_or_resume(
    sfn: Any, state_machine_arn: str, name: str, execution_input: dict[str, Any]
) -> Execution:
    """Start execution ``name``, or pick it up where it is (see the module docstring)."""
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
        )
        return Execution(started["executionArn"], "started")
    except sfn.exceptions.ExecutionAlreadyExists:
        pass
    arn = _execution_arn(state_machine_arn, name)
    status = sfn.describe_execution(executionArn=arn)["status"]
    if status in REDRIVABLE:
        sfn.redrive_execution(executionArn=arn)
        return Execution(arn, "redriven")
    return Execution(arn, "succeeded" if status == "SUCCEEDED" else "running")


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    progress: bool | None,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the execution ends, showing the map run's item counts; returns
    DescribeExecution's answer (``status``, ``output``, ``error``, ``cause``), plus the map
    run's last ``itemCounts``."""
    bar = progress_bar(progress, "import (Step Functions)", None)
    counts: dict[str, int] = {}
    try:
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
            if runs:
                counts = sfn.describe_map_run(mapRunArn=runs[-1]["mapRunArn"])["itemCounts"]
                bar.total = counts.get("total") or None
                bar.n = counts.get("succeeded", 0) + counts.get("failed", 0)
                bar.set_postfix_str(f"{counts.get('failed', 0)} in failed batches")
                bar.refresh()
            if described["status"] in TERMINAL:
                described["itemCounts"] = counts  # the map run's last item counts
                return described
            sleep(poll_seconds)
    finally:
        bar.close()


def manifest_url(described: dict[str, Any]) -> str | None:
    """The ResultWriter manifest an ended execution points at (its output), if any."""
    try:
        details = json.loads(described.get("output") or "{}")["ResultWriterDetails"]
    except (KeyError, TypeError, ValueError):
        return None
    return f"s3://{details['Bucket']}/{details['Key']}"
