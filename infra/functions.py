"""The batch layer, the four functions, and exactly the DynamoDB actions each one needs.

Roles are written out rather than built by ``grant_*`` helpers or AWS managed policies,
so that every action a function may take is readable here and asserted by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from fleet.tables import DEVICES, EXPIRY_INDEX, IDEMPOTENCY, SESSIONS, USERS, TableDef

from infra import constants as c
from infra.bundling import function_code, layer_code, powertools_version
from infra.config import StackConfig
from infra.nag import acknowledge
from infra.network import FleetNetwork
from infra.tables import FleetTables

__all__ = ["FleetFunctions", "Grant", "GRANTS"]


@dataclass(frozen=True)
class Grant:
    """DynamoDB ``actions`` on ``table`` (or on its index ``index`` when given).

    ``key_attributes_only`` limits the request to the table's key attributes
    (``dynamodb:Attributes``): see :func:`_data_statements`.
    """

    table: TableDef
    actions: tuple[str, ...]
    index: str | None = None
    key_attributes_only: bool = False


#: The whole of what each function may do to data: the calls the code in ``lambdas/fleet``
#: makes, and nothing else. No Scan anywhere: the sweeper and the warmer find sessions
#: through the sparse expiry index. No GetItem on users or devices: nothing reads them
#: one item at a time.
GRANTS: dict[str, tuple[Grant, ...]] = {
    # fleet.devices: the user's device-id set, then the devices, both by BatchGetItem.
    c.LOADER.name: (
        Grant(USERS, ("dynamodb:BatchGetItem",)),
        Grant(DEVICES, ("dynamodb:BatchGetItem",)),
    ),
    # fleet.transfer: one TransactWriteItems of three conditional updates; IAM checks
    # each item action inside it (UpdateItem on the device and both users). Powertools'
    # idempotency record (fleet.idempotency): get, put, update; delete when a call fails.
    c.TRANSFER.name: (
        Grant(USERS, ("dynamodb:UpdateItem",)),
        Grant(DEVICES, ("dynamodb:UpdateItem",)),
        Grant(
            IDEMPOTENCY,
            ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        ),
    ),
    # fleet.warmer: live sessions through the expiry index (expiresAt > now per shard,
    # userId projected into it), then users and devices by BatchGetItem. Read-only.
    c.WARMER.name: (
        Grant(SESSIONS, ("dynamodb:Query",), index=EXPIRY_INDEX.name),
        Grant(USERS, ("dynamodb:BatchGetItem",)),
        Grant(DEVICES, ("dynamodb:BatchGetItem",)),
    ),
    # fleet.sweeper: expired sessions through the index, a consistent BatchGetItem
    # re-check, then deletes through dynabatch's writer, which only sends BatchWriteItem
    # (no DeleteItem call exists). _data_statements says how its puts are bounded.
    c.SWEEPER.name: (
        Grant(SESSIONS, ("dynamodb:Query",), index=EXPIRY_INDEX.name),
        Grant(SESSIONS, ("dynamodb:BatchGetItem",)),
        Grant(SESSIONS, ("dynamodb:BatchWriteItem",), key_attributes_only=True),
    ),
}

_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


class FleetFunctions(Construct):
    """Layer + functions. ``network`` is None when the stack is deployed without a cache."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        tables: FleetTables,
        network: FleetNetwork | None,
    ) -> None:
        super().__init__(scope, construct_id)
        bundled = config.powertools == c.POWERTOOLS_BUNDLED
        self.layer = lambda_.LayerVersion(
            self,
            "BatchLayer",
            code=layer_code(with_powertools=bundled),
            compatible_runtimes=[_runtime()],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="dynabatch (the batch layer), the valkey cache client"
            + (f", Powertools {powertools_version()}" if bundled else ""),
            removal_policy=config.removal_policy,
        )
        self.layers: list[lambda_.ILayerVersion] = [self.layer]
        if not bundled:
            self.layers.insert(0, _public_powertools(self))
        code = function_code()
        environment = _environment(config, tables, network)
        self.by_name: dict[str, lambda_.Function] = {}
        for spec in c.FUNCTIONS:
            self.by_name[spec.name] = self._function(
                spec, config, code, environment, tables, network
            )

    def _function(
        self,
        spec: c.FunctionSpec,
        config: StackConfig,
        code: lambda_.Code,
        environment: dict[str, str],
        tables: FleetTables,
        network: FleetNetwork | None,
    ) -> lambda_.Function:
        construct_id = spec.name.capitalize()
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        role = self._role(construct_id, spec, log_group, tables, network)
        env = {**environment, "POWERTOOLS_SERVICE_NAME": f"{c.SERVICE_NAME}-{spec.name}"}
        if spec is c.SWEEPER:
            env["SWEEPER_SAFETY_MARGIN_SECONDS"] = str(c.SWEEPER_SAFETY_MARGIN_SECONDS)
        return lambda_.Function(
            self,
            construct_id,
            runtime=_runtime(),
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code,
            layers=self.layers,
            memory_size=spec.memory_mb,
            # A failed scheduled run is not re-run by Lambda: the next run starts within
            # minutes and carries on, and a retry could overlap it.
            retry_attempts=0 if spec.scheduled else None,
            reserved_concurrent_executions=config.reserved_concurrency[spec.name],
            timeout=Duration.seconds(spec.timeout_seconds),
            description=spec.description,
            environment=env,
            role=role,
            log_group=log_group,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnets if network else None,
            security_groups=[network.function_security_group] if network else None,
        )

    def _role(
        self,
        construct_id: str,
        spec: c.FunctionSpec,
        log_group: logs.LogGroup,
        tables: FleetTables,
        network: FleetNetwork | None,
    ) -> iam.Role:
        statements = [
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
            *_data_statements(spec.name, tables),
        ]
        if network is not None:
            statements.append(network.connect_statement())
            statements.append(
                iam.PolicyStatement(
                    sid="VpcNetworkInterfaces", actions=list(_ENI_ACTIONS), resources=["*"]
                )
            )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Device Fleet {spec.name}: its log group, its own DynamoDB actions, "
            "the cache",
            inline_policies={"access": iam.PolicyDocument(statements=statements)},
        )
        if network is not None:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                (
                    "Lambda's VPC networking: ec2:Describe* and the ENI actions Lambda takes "
                    "on the function's behalf support no resource-level scoping; this is the "
                    "statement of the AWSLambdaVPCAccessExecutionRole managed policy, written out."
                ),
            )
        return role


def _data_statements(function: str, tables: FleetTables) -> list[iam.PolicyStatement]:
    statements = []
    for grant in GRANTS[function]:
        arn = tables.table(grant.table).table_arn
        resource = f"{arn}/index/{grant.index}" if grant.index else arn
        conditions = None
        if grant.key_attributes_only:
            # BatchWriteItem is one IAM action for both its DeleteRequests and its
            # PutRequests, and no condition key tells them apart (LeadingKeys cannot: the
            # sweeper deletes sessions of every user). What bounds it: the resource is the
            # sessions table only, and dynamodb:Attributes allows no attribute beyond the
            # key. A delete names only the key, so it passes; a put could only write a
            # key-only item, which has no userId and no expiresAt: it cannot create or
            # extend a session, only blank one, which is no more than a delete can do.
            keys = [grant.table.partition.name]
            if grant.table.sort is not None:
                keys.append(grant.table.sort.name)
            conditions = {"ForAllValues:StringEquals": {"dynamodb:Attributes": keys}}
        statements.append(
            iam.PolicyStatement(
                actions=list(grant.actions), resources=[resource], conditions=conditions
            )
        )
    return statements


def _environment(
    config: StackConfig, tables: FleetTables, network: FleetNetwork | None
) -> dict[str, str]:
    env = {
        **tables.environment(),
        "CACHE_TTL_SECONDS": str(c.CACHE_TTL_SECONDS),
        "CALLER_CLAIM": config.caller_claim,
        "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": c.LOG_LEVEL,
    }
    if network is not None:
        env.update(network.environment())
    return env


def _public_powertools(scope: Construct) -> lambda_.ILayerVersion:
    """AWS's public Powertools layer of exactly the pinned release, for this region.

    The SSM parameter is resolved by CloudFormation at deploy time (no lookup at synth);
    a release AWS has not published fails the deployment instead of running untested code.
    """
    arn = ssm.StringParameter.value_for_string_parameter(
        scope, f"{c.POWERTOOLS_SSM_PREFIX}/{powertools_version()}"
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, "Powertools", arn)


def _runtime() -> lambda_.Runtime:
    # The newest Python that both aws-cdk-lib 2.275 and Powertools' public layer support.
    return lambda_.Runtime.PYTHON_3_14
