"""The shared cache and the network it needs: isolated subnets, no NAT, no internet.

Functions reach DynamoDB through a gateway endpoint (free) and the cache through its
security group; nothing else is routable from the subnets, which is why their egress to
port 443 can be "anywhere": the only 443 route out is the DynamoDB endpoint.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.config import StackConfig

__all__ = ["FleetNetwork"]


class FleetNetwork(Construct):
    """VPC + DynamoDB gateway endpoint + ElastiCache Serverless for Valkey.

    Attributes
    ----------
    function_security_group
        Put every function in it: it is the only source the cache accepts.
    cache_url
        ``rediss://<endpoint>:6379`` (TLS is always on for ElastiCache Serverless).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(c.VPC_CIDR),
            max_azs=c.VPC_MAX_AZS,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.dynamodb_endpoint = self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint",
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=[self.subnets],
        )
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.function_security_group, self.cache_security_group = self._security_groups()
        self.cache = self._cache()
        self.cache_url = f"rediss://{self.cache.attr_endpoint_address}:{c.CACHE_PORT}"

    def _security_groups(self) -> tuple[ec2.SecurityGroup, ec2.SecurityGroup]:
        functions = ec2.SecurityGroup(
            self,
            "FunctionsSecurityGroup",
            vpc=self.vpc,
            description="Device Fleet functions: out to the cache and DynamoDB only",
            allow_all_outbound=False,
        )
        cache = ec2.SecurityGroup(
            self,
            "CacheSecurityGroup",
            vpc=self.vpc,
            description="Device Fleet cache: in from the functions only",
            allow_all_outbound=False,
        )
        cache_ports = ec2.Port.tcp_range(c.CACHE_PORT, c.CACHE_READER_PORT)
        cache.add_ingress_rule(functions, cache_ports, "Valkey from the functions")
        functions.add_egress_rule(cache, cache_ports, "Valkey (primary and reader)")
        functions.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS: in isolated subnets only the DynamoDB gateway endpoint is routable",
        )
        return functions, cache

    def _cache(self) -> elasticache.CfnServerlessCache:
        return elasticache.CfnServerlessCache(
            self,
            "Cache",
            engine=c.CACHE_ENGINE,
            major_engine_version=c.CACHE_MAJOR_VERSION,
            serverless_cache_name=f"{c.SERVICE_NAME}-{_unique_suffix(self)}",
            description="Device Fleet shared device cache",
            security_group_ids=[self.cache_security_group.security_group_id],
            subnet_ids=self.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    maximum=c.CACHE_MAX_DATA_STORAGE_GB, unit="GB"
                ),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(
                    maximum=c.CACHE_MAX_ECPU_PER_SECOND
                ),
            ),
        )


def _unique_suffix(scope: Construct) -> str:
    """A short, stable, per-stack suffix: cache names are unique per account and region."""
    return scope.node.addr[-8:]
