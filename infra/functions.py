"""The batch layer, the four functions, and exactly the DynamoDB actions each one needs.

Roles are written out rather than built by ``grant_*`` helpers or AWS managed policies,
so that every action a function may take is readable here and asserted by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from fleet.tables import DEVICES, EXPIRY_INDEX, IDEMPOTENCY, SESSIONS, USERS, TableDef

from infra import constants as c
from infra.bundling import function_code, layer_code
from infra.config import StackConfig
from infra.nag import acknowledge
from infra.network import FleetNetwork
from infra.tables import FleetTables

__all__ = ["FleetFunctions", "Grant", "GRANTS"]


@dataclass(frozen=True)
class Grant:
    """DynamoDB ``actions`` on ``table`` (or on its index ``index`` when given)."""

    table: TableDef
    actions: tuple[str, ...]
    index: str | None = None


_READ = ("dynamodb:BatchGetItem", "dynamodb:GetItem")

#: The whole of what each function may do to data. No Scan anywhere: the sweeper and the
#: warmer find sessions through the sparse expiry index.
GRANTS: dict[str, tuple[Grant, ...]] = {
    # Reads the user's device-id set, then the devices in 100-key BatchGetItem chunks.
    c.LOADER.name: (Grant(USERS, _READ), Grant(DEVICES, _READ)),
    # One TransactWriteItems of three conditional updates: IAM checks each item action
    # inside it (UpdateItem on the device and both users); GetItem for a read of either
    # table; Powertools' idempotency record (get, put, update; delete when a call fails).
    c.TRANSFER.name: (
        Grant(USERS, ("dynamodb:GetItem", "dynamodb:UpdateItem")),
        Grant(DEVICES, ("dynamodb:GetItem", "dynamodb:UpdateItem")),
        Grant(
            IDEMPOTENCY,
            ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        ),
    ),
    # Live sessions through the expiry index (expiresAt > now per shard, userId projected
    # into it), then users and devices. Read-only.
    c.WARMER.name: (
        Grant(SESSIONS, ("dynamodb:Query",), index=EXPIRY_INDEX.name),
        Grant(USERS, _READ),
        Grant(DEVICES, _READ),
    ),
    # Expired sessions through the index, a consistent BatchGetItem re-check, then deletes.
    # It can delete sessions and nothing else.
    c.SWEEPER.name: (
        Grant(SESSIONS, ("dynamodb:Query",), index=EXPIRY_INDEX.name),
        Grant(
            SESSIONS,
            ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"),
        ),
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
        self.layer = lambda_.LayerVersion(
            self,
            "BatchLayer",
            code=layer_code(),
            compatible_runtimes=[_runtime()],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="dynabatch (the batch layer) and the valkey cache client",
            removal_policy=config.removal_policy,
        )
        region = Stack.of(self).region
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            f"arn:aws:lambda:{region}:{c.POWERTOOLS_LAYER_ACCOUNT}:layer:"
            f"{c.POWERTOOLS_LAYER_NAME}:{config.powertools_layer_version}",
        )
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
            layers=[self.powertools, self.layer],
            memory_size=spec.memory_mb,
            # A failed scheduled run is not re-run by Lambda: the next run starts within
            # minutes and carries on, and a retry could overlap it.
            retry_attempts=0 if spec.scheduled else None,
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
            statements.append(
                iam.PolicyStatement(
                    sid="VpcNetworkInterfaces", actions=list(_ENI_ACTIONS), resources=["*"]
                )
            )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Device Fleet {spec.name}: its log group and its own DynamoDB actions",
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
        statements.append(iam.PolicyStatement(actions=list(grant.actions), resources=[resource]))
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
        env["CACHE_URL"] = network.cache_url
    return env


def _runtime() -> lambda_.Runtime:
    # The newest Python that both aws-cdk-lib 2.275 and Powertools' public layer support.
    return lambda_.Runtime.PYTHON_3_14
