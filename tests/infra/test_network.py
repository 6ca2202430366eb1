"""The cache and its network: isolated subnets, no NAT, only the functions reach Valkey."""

from __future__ import annotations

from typing import Any

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


def test_functions_may_only_talk_to_the_cache_and_https(default_synth: Synth) -> None:
    network = default_synth.stack.network
    functions_sg = logical_id(default_synth, network.function_security_group)
    group = default_synth.resources[functions_sg]["Properties"]

    (https,) = group["SecurityGroupEgress"]
    assert (https["IpProtocol"], https["FromPort"], https["ToPort"]) == ("tcp", 443, 443)
    (to_cache,) = _rules(default_synth, "AWS::EC2::SecurityGroupEgress")
    assert to_cache["GroupId"] == {"Fn::GetAtt": [functions_sg, "GroupId"]}
    assert (to_cache["FromPort"], to_cache["ToPort"]) == (6379, 6380)


def test_rejected_traffic_is_flow_logged(default_synth: Synth) -> None:
    (flow_log,) = default_synth.of_type("AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "REJECT"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"


def test_cache_none_deploys_no_network_at_all(prod_synth: Synth) -> None:
    for cfn_type in NETWORK_TYPES:
        assert prod_synth.of_type(cfn_type) == {}, cfn_type
    assert prod_synth.stack.network is None
