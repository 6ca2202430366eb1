"""The cache and its network: isolated subnets, no NAT, only the functions reach Valkey."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from infra.config import StackConfig
from infra.network import FleetNetwork
from tests.infra.conftest import Synth, logical_id

NETWORK_TYPES = (
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::VPCEndpoint",
    "AWS::ElastiCache::ServerlessCache",
)


def test_vpc_has_isolated_subnets_only_and_no_way_to_the_internet(default_synth: Synth) -> None:
    subnets = default_synth.of_type("AWS::EC2::Subnet").values()
    assert len(subnets) == 2
    assert {s["Properties"]["MapPublicIpOnLaunch"] for s in subnets} == {False}
    for cfn_type in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"):
        assert default_synth.of_type(cfn_type) == {}
    for route in default_synth.of_type("AWS::EC2::Route").values():
        assert "GatewayId" not in route["Properties"]


def test_dynamodb_is_reached_through_a_gateway_endpoint(default_synth: Synth) -> None:
    (endpoint,) = default_synth.of_type("AWS::EC2::VPCEndpoint").values()
    props = endpoint["Properties"]
    assert props["VpcEndpointType"] == "Gateway"
    assert props["ServiceName"] == {
        "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".dynamodb"]]
    }
    assert len(props["RouteTableIds"]) == 2


def test_cache_is_serverless_valkey_in_the_isolated_subnets(default_synth: Synth) -> None:
    (cache,) = default_synth.of_type("AWS::ElastiCache::ServerlessCache").values()
    props = cache["Properties"]
    network = default_synth.stack.network
    cache_sg = logical_id(default_synth, network.cache_security_group)

    assert props["Engine"] == "valkey"
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [cache_sg, "GroupId"]}]
    assert len(props["SubnetIds"]) == 2
    assert props["CacheUsageLimits"]["DataStorage"] == {"Maximum": 1, "Unit": "GB"}
    assert props["ServerlessCacheName"].startswith("device-fleet-")
    assert len(props["ServerlessCacheName"]) <= 40


def _rules(synth: Synth, cfn_type: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synth.of_type(cfn_type).values()]


def test_only_the_functions_security_group_may_reach_the_cache(default_synth: Synth) -> None:
    network = default_synth.stack.network
    cache_sg = logical_id(default_synth, network.cache_security_group)
    functions_sg = logical_id(default_synth, network.function_security_group)

    (ingress,) = _rules(default_synth, "AWS::EC2::SecurityGroupIngress")
    assert ingress["GroupId"] == {"Fn::GetAtt": [cache_sg, "GroupId"]}
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": [functions_sg, "GroupId"]}
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 6379, 6380)
    cache_group = default_synth.resources[cache_sg]["Properties"]
    assert "SecurityGroupIngress" not in cache_group


def _egress_rules(synth: Synth) -> dict[str, dict[str, Any]]:
    """Every egress rule of the functions' group, inline or separate, by destination."""
    network = synth.stack.network
    functions_sg = logical_id(synth, network.function_security_group)
    found: dict[str, dict[str, Any]] = {}
    for rule in _rules(synth, "AWS::EC2::SecurityGroupEgress"):
        assert rule["GroupId"] == {"Fn::GetAtt": [functions_sg, "GroupId"]}
        target = "cache" if "DestinationSecurityGroupId" in rule else "prefix-list"
        found[target] = rule
    return found


def test_functions_may_only_talk_to_the_cache_and_dynamodb(default_synth: Synth) -> None:
    network = default_synth.stack.network
    functions_sg = logical_id(default_synth, network.function_security_group)
    cache_sg = logical_id(default_synth, network.cache_security_group)
    group = default_synth.resources[functions_sg]["Properties"]

    # The only inline rule matches no traffic, so EC2's default allow-all egress is gone.
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "255.255.255.255/32",
            "Description": "Disallow all traffic",
            "IpProtocol": "icmp",
            "FromPort": 252,
            "ToPort": 86,
        }
    ]
    rules = _egress_rules(default_synth)
    assert set(rules) == {"cache", "prefix-list"}
    to_cache = rules["cache"]
    assert to_cache["DestinationSecurityGroupId"] == {"Fn::GetAtt": [cache_sg, "GroupId"]}
    assert (to_cache["IpProtocol"], to_cache["FromPort"], to_cache["ToPort"]) == (
        "tcp",
        6379,
        6380,
    )
    https = rules["prefix-list"]
    assert (https["IpProtocol"], https["FromPort"], https["ToPort"]) == ("tcp", 443, 443)
    (lookup_id,) = default_synth.of_type("Custom::AWS")
    assert https["DestinationPrefixListId"] == {
        "Fn::GetAtt": [lookup_id, "PrefixLists.0.PrefixListId"]
    }
    assert "CidrIp" not in https


def test_no_security_group_lets_anything_out_to_the_internet(default_synth: Synth) -> None:
    text = json.dumps(
        [
            default_synth.of_type(t)
            for t in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupEgress")
        ]
    )
    assert "0.0.0.0/0" not in text
    assert "::/0" not in text


def test_the_dynamodb_prefix_list_is_looked_up_at_deploy_time(default_synth: Synth) -> None:
    (lookup,) = default_synth.of_type("Custom::AWS").values()
    call = json.loads(lookup["Properties"]["Create"])
    assert (call["service"], call["action"]) == ("EC2", "describePrefixLists")
    assert call["parameters"]["Filters"] == [
        {"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-west-1.dynamodb"]}
    ]
    assert lookup["Properties"]["InstallLatestAwsSdk"] is False  # no internet needed
    # Its function may describe prefix lists and write its own logs, nothing else.
    (function,) = [
        f
        for f in default_synth.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "index.handler"
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = default_synth.resources[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    actions = [s["Action"] for s in policy["PolicyDocument"]["Statement"]]
    assert actions == [["logs:CreateLogStream", "logs:PutLogEvents"], "ec2:DescribePrefixLists"]
    assert "VpcConfig" not in function["Properties"]


def test_a_prefix_list_id_from_context_needs_no_lookup() -> None:
    # Given the network alone (no assets: cheap), with the prefix list id in context
    stack = Stack(App(), "Net", env=Environment(region="eu-west-1"))
    config = StackConfig(dynamodb_prefix_list_id="pl-6da54004")
    FleetNetwork(stack, "Network", config=config)
    template = Template.from_stack(stack).to_json()["Resources"]

    # Then the 443 rule names it, and no custom resource or Lambda is deployed
    egress = [
        r["Properties"] for r in template.values() if r["Type"] == "AWS::EC2::SecurityGroupEgress"
    ]
    assert [e["DestinationPrefixListId"] for e in egress if e["FromPort"] == 443] == ["pl-6da54004"]
    types = {r["Type"] for r in template.values()}
    assert "Custom::AWS" not in types
    assert "AWS::Lambda::Function" not in types


def test_the_cache_accepts_only_its_iam_authenticated_user(default_synth: Synth) -> None:
    ((user_id, user),) = default_synth.of_type("AWS::ElastiCache::User").items()
    ((group_id, group),) = default_synth.of_type("AWS::ElastiCache::UserGroup").items()
    (cache,) = default_synth.of_type("AWS::ElastiCache::ServerlessCache").values()
    user_props, group_props = user["Properties"], group["Properties"]

    assert user_props["AuthenticationMode"] == {"Type": "iam"}
    assert "Passwords" not in user_props and "NoPasswordRequired" not in user_props
    assert user_props["UserId"] == user_props["UserName"]  # IAM authentication needs it
    assert user_props["UserId"].startswith("device-fleet-")
    assert user_props["Engine"] == group_props["Engine"] == "valkey"
    # Only the fleet's keys; no FLUSHALL, CONFIG, KEYS and the like.
    assert user_props["AccessString"].startswith("on ~fleet:* -@all ")
    assert user_props["AccessString"].endswith(" -@dangerous")
    # The group holds that user and no `default` user: unauthenticated connections get nothing.
    assert group_props["UserIds"] == [{"Ref": user_id}]
    assert cache["Properties"]["UserGroupId"] == {"Ref": group_id}


def test_rejected_traffic_is_flow_logged(default_synth: Synth) -> None:
    (flow_log,) = default_synth.of_type("AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "REJECT"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"


def test_cache_none_deploys_no_network_at_all(prod_synth: Synth) -> None:
    for cfn_type in NETWORK_TYPES:
        assert prod_synth.of_type(cfn_type) == {}, cfn_type
    assert prod_synth.stack.network is None
