"""The distributed import in the stack: state machines, workers, bucket, least privilege.

Uses the session's two synthesized variants (tests/infra/conftest.py): the default one has
the distributed import (on by default); the prod one is deployed with ``bulkImport=false``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from typing import Any

import pytest
from fleet.bulkwriter import MAP
from fleet.tables import ALL_TABLES

from infra import constants as c
from infra.config import ConfigError, StackConfig
from tests.infra.conftest import Synth, logical_id

TABLES = c.BULK_IMPORT_TABLES


def _definition(synth: Synth, table: str) -> dict[str, Any]:
    """The state machine's ASL, with CloudFormation references shown as <Ref:...>."""
    machine = synth.stack.bulk_import.state_machines[table]  # type: ignore[union-attr]
    body = synth.resources[logical_id(synth, machine)]["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(
        p if isinstance(p, str) else f"<Ref:{json.dumps(p)}>".replace('"', "'") for p in parts
    )
    definition: dict[str, Any] = json.loads(text)
    return definition


def _role_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    (policy,) = synth.resources[role_id]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


@pytest.mark.parametrize("table", TABLES)
def test_each_table_has_a_distributed_map_over_its_own_import_prefix(
    default_synth: Synth, table: str
) -> None:
    definition = _definition(default_synth, table)
    states = definition["States"]
    assert states["ByFormat"]["Choices"][0]["Next"] == "ImportCsv"
    for name, input_type in (("ImportJsonLines", "JSONL"), ("ImportCsv", "CSV")):
        state = states[name]
        reader = state["ItemReader"]
        assert reader["Resource"] == "arn:aws:states:::s3:listObjectsV2"
        assert reader["ReaderConfig"]["InputType"] == input_type
        assert reader["ReaderConfig"]["Transformation"] == "LOAD_AND_FLATTEN"
        assert reader["Parameters"]["Prefix.$"] == "$.prefix"
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert state["ItemBatcher"]["MaxItemsPerBatch"] == MAP.max_items_per_batch
        assert state["ItemBatcher"]["MaxInputBytesPerBatch"] == MAP.max_input_bytes_per_batch
        assert (
            state["ItemBatcher"]["BatchInput"]["writeUnitsPerSecond.$"] == "$.writeUnitsPerSecond"
        )
        # A failed batch never stops the run, and is reported in the results
        assert state["ToleratedFailurePercentage"] == 100
        writer = state["ResultWriter"]
        assert writer["Parameters"]["Prefix"] == f"results/{table}"
        assert writer["WriterConfig"] == {"Transformation": "FLATTEN", "OutputType": "JSONL"}


def test_a_failed_batch_is_retried_with_backoff_but_invalid_records_are_not(
    default_synth: Synth,
) -> None:
    task = _definition(default_synth, "devices")["States"]["ImportJsonLines"]["ItemProcessor"][
        "States"
    ]["WriteBatch"]
    invalid, everything = task["Retry"]
    assert invalid == {"ErrorEquals": ["InvalidRecordsError"], "MaxAttempts": 0}
    assert everything["ErrorEquals"] == ["States.ALL"]
    assert everything["MaxAttempts"] == MAP.retry_max_attempts
    assert everything["BackoffRate"] == MAP.retry_backoff_rate
    assert everything["JitterStrategy"] == "FULL"


@pytest.mark.parametrize("table", TABLES)
def test_each_worker_may_batch_write_its_one_table_and_nothing_else(
    default_synth: Synth, table: str
) -> None:
    worker = default_synth.stack.bulk_import.workers[table]  # type: ignore[union-attr]
    function = default_synth.resources[logical_id(default_synth, worker)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    definition = next(t for t in ALL_TABLES if t.logical_name == table)
    table_id = logical_id(default_synth, default_synth.stack.tables.table(definition))
    data = [
        s
        for s in _role_statements(default_synth, role_id)
        if not _actions(s) & {"logs:PutLogEvents", "ec2:CreateNetworkInterface"}
    ]
    assert data == [
        {
            "Action": "dynamodb:BatchWriteItem",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table_id, "Arn"]},
        }
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["BULK_IMPORT_TABLE"] == table
    assert env[definition.env_var] == {"Ref": table_id}
    assert function["Properties"]["MemorySize"] == c.BULK_WRITER.memory_mb


@pytest.mark.parametrize("table", TABLES)
def test_each_state_machine_reads_its_prefix_writes_its_results_and_calls_its_worker(
    default_synth: Synth, table: str
) -> None:
    bulk = default_synth.stack.bulk_import
    assert bulk is not None
    machine = default_synth.resources[logical_id(default_synth, bulk.state_machines[table])]
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    by_sid = {s["Sid"]: s for s in _role_statements(default_synth, role_id)}
    assert by_sid["ListImports"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"imports/{table}/*"]}
    }
    assert by_sid["ReadImports"]["Action"] == "s3:GetObject"
    assert by_sid["ReadImports"]["Resource"]["Fn::Join"][1][1] == f"/imports/{table}/*"
    assert "s3:PutObject" in _actions(by_sid["WriteResults"])
    assert by_sid["WriteResults"]["Resource"]["Fn::Join"][1][1] == f"/results/{table}/*"
    worker_id = logical_id(default_synth, bulk.workers[table])
    assert by_sid["InvokeWorker"]["Resource"] == {"Fn::GetAtt": [worker_id, "Arn"]}
    assert f"stateMachine:DeviceFleet-dev-bulk-import-{table}" in json.dumps(
        by_sid["ChildExecutions"]["Resource"]
    )
    writes_s3 = [
        s for s in _role_statements(default_synth, role_id) if "s3:PutObject" in _actions(s)
    ]
    assert len(writes_s3) == 1


def test_the_bucket_is_private_encrypted_and_ssl_only_and_named_in_outputs(
    default_synth: Synth,
) -> None:
    (bucket,) = default_synth.of_type("AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (policy,) = default_synth.of_type("AWS::S3::BucketPolicy").values()
    assert "aws:SecureTransport" in json.dumps(policy)
    outputs = default_synth.template.to_json()["Outputs"]
    assert {
        "BulkImportBucketName",
        *(f"BulkImport{t.capitalize()}StateMachineArn" for t in TABLES),
    } <= set(outputs)


def test_the_flag_turns_it_off(prod_synth: Synth) -> None:
    assert prod_synth.stack.bulk_import is None
    assert prod_synth.of_type("AWS::StepFunctions::StateMachine") == {}
    assert prod_synth.of_type("AWS::S3::Bucket") == {}
    assert StackConfig.from_context(lambda key: None).bulk_import is True
    with pytest.raises(ConfigError, match="bulkImport"):
        StackConfig.from_context(lambda key: "maybe" if key == c.CTX_BULK_IMPORT else None)


def test_the_worker_code_is_self_contained_with_the_layer(default_synth: Synth) -> None:
    # Given the worker's code asset and the batch layer, and no repository on the path
    worker = default_synth.stack.bulk_import.workers["devices"]  # type: ignore[union-attr]
    code = default_synth.asset_dir(logical_id(default_synth, worker))
    layer = default_synth.asset_dir(logical_id(default_synth, default_synth.stack.functions.layer))
    assert (code / "fleet" / "records.py").is_file()
    assert not (code / "dynabatch").exists()  # it comes from the layer
    # When the handler is imported as Lambda would (-S: no .pth, so no editable install)
    site = sysconfig.get_paths()["purelib"]
    probe = "import fleet.handlers.bulk_writer, fleet.records as r; print(r.__file__)"
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-S", "-c", probe],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(layer / "python"), site])},
        capture_output=True,
        text=True,
        check=False,
        cwd=str(code),
    )
    # Then it loads the record conversion from the asset itself
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(code))
