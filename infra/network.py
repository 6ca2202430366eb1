"""The shared cache and the network it needs: isolated subnets, no NAT, no internet.

Functions reach DynamoDB through a gateway endpoint (free) and the cache through its
security group; their security group allows exactly that: port 443 to the region's
DynamoDB prefix list, the cache's ports to the cache's group, nothing else.

The cache authenticates every connection with IAM: its user group holds one user with
``AuthenticationMode: iam`` (user id == user name, as IAM authentication requires), and
the functions may ``elasticache:Connect`` as that user to that cache only. A client signs
a SigV4 token and sends it as the AUTH password; no secret exists anywhere.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import constants as c
from infra.config import StackConfig
from infra.nag import acknowledge

__all__ = ["FleetNetwork"]

#: Matches no packet: an egress list that holds only this allows nothing.
_NO_TRAFFIC = {
    "CidrIp": "255.255.255.255/32",
    "Description": "Disallow all traffic",
    "IpProtocol": "icmp",
    "FromPort": 252,
    "ToPort": 86,
}


class FleetNetwork(Construct):
    """VPC + DynamoDB gateway endpoint + ElastiCache Serverless for Valkey.

    Attributes
    ----------
    function_security_group
        Put every function in it: it is the only source the cache accepts.
    cache_url
        ``rediss://<endpoint>:6379`` (TLS is always on for ElastiCache Serverless).
    cache_user
        The IAM-authenticated cache user the functions connect as.
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
        self.dynamodb_prefix_list_id = self._dynamodb_prefix_list(config)
        self.function_security_group, self.cache_security_group = self._security_groups()
        self.cache_user, self.cache_user_group = self._cache_users()
        self.cache = self._cache()
        self.cache_url = f"rediss://{self.cache.attr_endpoint_address}:{c.CACHE_PORT}"

    @property
    def cache_name(self) -> str:
        """The serverless cache's name: the host the IAM auth token is signed for."""
        return str(self.cache.serverless_cache_name)

    @property
    def cache_user_id(self) -> str:
        return str(self.cache_user.user_id)

    def environment(self) -> dict[str, str]:
        """What the functions need to reach the cache and sign their AUTH tokens."""
        return {
            "CACHE_URL": self.cache_url,
            "CACHE_AUTH": c.CACHE_AUTH_IAM,
            "CACHE_USER_ID": self.cache_user_id,
            "CACHE_NAME": self.cache_name,
        }

    def connect_statement(self) -> iam.PolicyStatement:
        """``elasticache:Connect`` as the cache user, to this cache only (both ARNs)."""
        return iam.PolicyStatement(
            sid="CacheConnect",
            actions=["elasticache:Connect"],
            resources=[self.cache.attr_arn, self.cache_user.attr_arn],
        )

    def _dynamodb_prefix_list(self, config: StackConfig) -> str:
        """The region's DynamoDB prefix list id: from context, or looked up at deploy time.

        A gateway endpoint does not expose its prefix list to CloudFormation, and a synth
        time lookup would need an account; so a one-call custom resource asks EC2
        (``DescribePrefixLists``) during the deployment.
        """
        if config.dynamodb_prefix_list_id:
            return config.dynamodb_prefix_list_id
        region = Stack.of(self).region
        log_group = logs.LogGroup(
            self,
            "PrefixListLookupLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        call = cr.AwsSdkCall(
            service="EC2",
            action="describePrefixLists",
            parameters={
                "Filters": [
                    {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.dynamodb"]}
                ]
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"dynamodb-prefix-list-{region}"),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        lookup = cr.AwsCustomResource(
            self,
            "DynamoDbPrefixList",
            on_create=call,
            on_update=call,
            role=self._lookup_role(log_group),
            log_group=log_group,
            install_latest_aws_sdk=False,
        )
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    def _lookup_role(self, log_group: logs.LogGroup) -> iam.Role:
        """The lookup function's role: its own logs and DescribePrefixLists, nothing else."""
        role = iam.Role(
            self,
            "PrefixListLookupRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Device Fleet deploy-time lookup of the DynamoDB prefix list id",
            inline_policies={
                "lookup": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[log_group.log_group_arn],
                        ),
                        iam.PolicyStatement(actions=["ec2:DescribePrefixLists"], resources=["*"]),
                    ]
                )
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribePrefixLists supports no resource-level permissions; it is a "
            "read-only call that returns AWS-managed prefix list ids and nothing else.",
        )
        return role

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
            ec2.Peer.prefix_list(self.dynamodb_prefix_list_id),
            ec2.Port.tcp(443),
            "HTTPS to DynamoDB (through the gateway endpoint) and nowhere else",
        )
        # Both rules above are separate resources (a prefix list and another group cannot
        # be inline rules in CDK), which leaves the group with no inline egress, and
        # EC2 then keeps its default allow-all egress rule. The rule CDK itself uses for
        # "no traffic" (ICMP 252/86 to 255.255.255.255/32, which matches nothing) replaces
        # that default, so only the two rules above let anything out.
        cfn_group = functions.node.default_child
        assert isinstance(cfn_group, ec2.CfnSecurityGroup)
        cfn_group.add_property_override("SecurityGroupEgress", [_NO_TRAFFIC])
        return functions, cache

    def _cache_users(self) -> tuple[elasticache.CfnUser, elasticache.CfnUserGroup]:
        """One IAM-authenticated user in the cache's user group, and no ``default`` user.

        Valkey user groups need no ``default`` user (Redis OSS ones do), so a connection
        that has not authenticated as this user can do nothing at all.
        """
        suffix = _unique_suffix(self)
        # IAM authentication requires the user's name to equal its id.
        user_id = f"{c.SERVICE_NAME}-fn-{suffix}"
        user = elasticache.CfnUser(
            self,
            "CacheUser",
            engine=c.CACHE_ENGINE,
            user_id=user_id,
            user_name=user_id,
            authentication_mode={"Type": c.CACHE_AUTH_IAM},
            access_string=c.CACHE_ACCESS_STRING,
        )
        group = elasticache.CfnUserGroup(
            self,
            "CacheUserGroup",
            engine=c.CACHE_ENGINE,
            user_group_id=f"{c.SERVICE_NAME}-{suffix}",
            user_ids=[user.ref],
        )
        return user, group

    def _cache(self) -> elasticache.CfnServerlessCache:
        return elasticache.CfnServerlessCache(
            self,
            "Cache",
            engine=c.CACHE_ENGINE,
            major_engine_version=c.CACHE_MAJOR_VERSION,
            serverless_cache_name=f"{c.SERVICE_NAME}-{_unique_suffix(self)}",
            description="Device Fleet shared device cache",
            security_group_ids=[self.cache_security_group.security_group_id],
            user_group_id=self.cache_user_group.ref,
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
