"""The four tables, as fleet.tables defines them, with the data protections of each stage."""

from __future__ import annotations

import pytest
from fleet.tables import ALL_TABLES, SESSIONS, TableDef

from tests.infra.conftest import Synth, logical_id


def _table(synth: Synth, definition: TableDef) -> dict:
    table = synth.stack.tables.table(definition)
    return synth.resources[logical_id(synth, table)]


@pytest.mark.parametrize("definition", ALL_TABLES, ids=lambda d: d.logical_name)
def test_each_table_has_the_keys_indexes_and_ttl_of_its_definition(
    any_synth: Synth, definition: TableDef
) -> None:
    props = _table(any_synth, definition)["Properties"]

    key_schema = [{"AttributeName": definition.partition.name, "KeyType": "HASH"}]
    if definition.sort:
        key_schema.append({"AttributeName": definition.sort.name, "KeyType": "RANGE"})
    assert props["KeySchema"] == key_schema
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        definition.attribute_definitions(), key=lambda a: a["AttributeName"]
    )
    expected_indexes = definition.create_table_kwargs("x").get("GlobalSecondaryIndexes", [])
    assert props.get("GlobalSecondaryIndexes", []) == expected_indexes
    if definition.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {
            "AttributeName": definition.ttl_attribute,
            "Enabled": True,
        }
    else:
        assert "TimeToLiveSpecification" not in props


def test_sessions_carry_the_sparse_sharded_expiry_index(default_synth: Synth) -> None:
    (index,) = _table(default_synth, SESSIONS)["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "expiry-index"
    assert index["KeySchema"] == [
        {"AttributeName": "expiryShard", "KeyType": "HASH"},
        {"AttributeName": "expiresAt", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["userId"]}


@pytest.mark.parametrize("definition", ALL_TABLES, ids=lambda d: d.logical_name)
def test_tables_are_on_demand_encrypted_and_recoverable(
    any_synth: Synth, definition: TableDef
) -> None:
    props = _table(any_synth, definition)["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    # SSEEnabled alone means KMS with the AWS managed key (aws/dynamodb), not the
    # invisible AWS owned key: its use shows in CloudTrail.
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_dev_tables_go_with_the_stack(default_synth: Synth) -> None:
    for definition in ALL_TABLES:
        resource = _table(default_synth, definition)
        assert resource["DeletionPolicy"] == "Delete"
        assert resource["Properties"].get("DeletionProtectionEnabled", False) is False


def test_prod_tables_outlive_the_stack_and_refuse_deletion(prod_synth: Synth) -> None:
    for definition in ALL_TABLES:
        resource = _table(prod_synth, definition)
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
        assert resource["Properties"]["DeletionProtectionEnabled"] is True


def test_table_names_are_generated_and_output(any_synth: Synth) -> None:
    # No fixed names: dev and prod (or two developers' stacks) share an account.
    outputs = any_synth.template.to_json()["Outputs"]
    for definition in ALL_TABLES:
        props = _table(any_synth, definition)["Properties"]
        assert "TableName" not in props
        table_id = logical_id(any_synth, any_synth.stack.tables.table(definition))
        assert outputs[f"{definition.logical_name.capitalize()}TableName"]["Value"] == {
            "Ref": table_id
        }
