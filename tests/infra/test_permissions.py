"""Least privilege, asserted action by action: what each function may do, and to what."""

from __future__ import annotations

from typing import Any

import pytest
from fleet.tables import ALL_TABLES

from tests.infra.conftest import Synth, logical_id

READ = {"dynamodb:BatchGetItem"}
INDEX = "sessions/index/expiry-index"

#: Written out by hand on purpose: a change to a grant must change this table too. Each
#: action is one the code in lambdas/fleet calls (BatchGetItem through dynabatch's reader,
#: TransactWriteItems = UpdateItem per item, Powertools' idempotency record, ...).
EXPECTED: dict[str, dict[str, set[str]]] = {
    "loader": {"users": READ, "devices": READ},
    "transfer": {
        "users": {"dynamodb:UpdateItem"},
        "devices": {"dynamodb:UpdateItem"},
        "idempotency": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
    },
    "warmer": {
        INDEX: {"dynamodb:Query"},
        "users": READ,
        "devices": READ,
    },
    "sweeper": {
        INDEX: {"dynamodb:Query"},
        "sessions": {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"},
    },
}
ENI = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def _role_id(synth: Synth, name: str) -> str:
    function = synth.resources[logical_id(synth, synth.stack.functions.by_name[name])]
    role_id: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def _statements(synth: Synth, name: str) -> list[dict[str, Any]]:
    role = synth.resources[_role_id(synth, name)]["Properties"]
    (policy,) = role["Policies"]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def _target(synth: Synth, resource: Any) -> str:
    """A statement's resource as a readable name: a table, its index, a log group, or *."""
    names = {logical_id(synth, synth.stack.tables.table(d)): d.logical_name for d in ALL_TABLES}
    if resource == "*":
        return "*"
    if "Fn::GetAtt" in resource:
        target_id = resource["Fn::GetAtt"][0]
        return names.get(target_id, synth.resources[target_id]["Type"])
    parts = resource["Fn::Join"][1]
    return names[parts[0]["Fn::GetAtt"][0]] + parts[1]


def _dynamodb_grants(synth: Synth, name: str) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for statement in _statements(synth, name):
        actions = statement["Action"]
        actions = {actions} if isinstance(actions, str) else set(actions)
        assert statement["Effect"] == "Allow"
        if all(a.startswith("dynamodb:") for a in actions):
            (target,) = {_target(synth, statement["Resource"])}
            grants.setdefault(target, set()).update(actions)
    return grants


@pytest.mark.parametrize("name", EXPECTED)
def test_each_function_may_do_exactly_its_dynamodb_actions(any_synth: Synth, name: str) -> None:
    assert _dynamodb_grants(any_synth, name) == EXPECTED[name]


def test_the_sweeper_can_delete_sessions_and_nothing_else(default_synth: Synth) -> None:
    grants = _dynamodb_grants(default_synth, "sweeper")
    deleters = {
        t
        for t, actions in grants.items()
        if actions & {"dynamodb:BatchWriteItem", "dynamodb:DeleteItem"}
    }
    assert deleters == {"sessions"}


def test_the_sweepers_batch_writes_may_name_only_the_session_key(default_synth: Synth) -> None:
    # BatchWriteItem also allows puts: limited to key-only items, a put cannot forge or
    # extend a session (no userId, no expiresAt).
    (statement,) = [
        s
        for s in _statements(default_synth, "sweeper")
        if "dynamodb:BatchWriteItem"
        in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert statement["Action"] == "dynamodb:BatchWriteItem"
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["sessionId"]}
    }
    for name in EXPECTED:
        for other in _statements(default_synth, name):
            if other != statement and other.get("Condition"):
                raise AssertionError(f"unexpected condition on {name}: {other}")


@pytest.mark.parametrize("name", EXPECTED)
def test_each_function_may_connect_to_the_cache_as_its_user_only(
    default_synth: Synth, prod_synth: Synth, name: str
) -> None:
    network = default_synth.stack.network
    (connect,) = [s for s in _statements(default_synth, name) if s.get("Sid") == "CacheConnect"]
    assert connect["Action"] == "elasticache:Connect"
    assert connect["Resource"] == [
        {"Fn::GetAtt": [logical_id(default_synth, network.cache), "ARN"]},
        {"Fn::GetAtt": [logical_id(default_synth, network.cache_user), "Arn"]},
    ]
    # Without a cache there is nothing to connect to.
    assert not [s for s in _statements(prod_synth, name) if "elasticache" in str(s["Action"])]


def test_only_the_transfer_writes_users_and_devices(default_synth: Synth) -> None:
    writes = {
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
    for name in EXPECTED:
        grants = _dynamodb_grants(default_synth, name)
        touched = {t for t in ("users", "devices") if grants.get(t, set()) & writes}
        assert touched == ({"users", "devices"} if name == "transfer" else set())


@pytest.mark.parametrize("name", EXPECTED)
def test_no_wildcard_actions_and_logs_only_to_the_functions_own_group(
    any_synth: Synth, name: str
) -> None:
    statements = _statements(any_synth, name)
    for statement in statements:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action
    (logs,) = [s for s in statements if s.get("Sid") == "Logs"]
    assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    function = any_synth.resources[logical_id(any_synth, any_synth.stack.functions.by_name[name])]
    group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert logs["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}


@pytest.mark.parametrize("name", EXPECTED)
def test_resource_star_only_for_vpc_networking_and_only_with_a_vpc(
    default_synth: Synth, prod_synth: Synth, name: str
) -> None:
    def star_actions(synth: Synth) -> set[str]:
        found: set[str] = set()
        for s in _statements(synth, name):
            if s["Resource"] == "*":
                found.update(s["Action"])
        return found

    assert star_actions(default_synth) == ENI
    assert star_actions(prod_synth) == set()


@pytest.mark.parametrize("name", EXPECTED)
def test_roles_carry_no_managed_or_extra_policies(any_synth: Synth, name: str) -> None:
    role_id = _role_id(any_synth, name)
    assert "ManagedPolicyArns" not in any_synth.resources[role_id]["Properties"]
    for policy in any_synth.of_type("AWS::IAM::Policy").values():
        assert {"Ref": role_id} not in policy["Properties"].get("Roles", [])
