"""The distributed import: a Step Functions Distributed Map over S3 objects, per table.

For each importable table, one state machine and one bulk-writer function:

- ``ItemReader`` lists ``imports/<table>/<run>/`` (``listObjectsV2``) and loads every
  object as JSON Lines or CSV (``LOAD_AND_FLATTEN``): one record per line or row;
- ``ItemBatcher`` cuts batches (items and bytes, :data:`fleet.bulkwriter.MAP`) and adds the
  run's ``BatchInput`` (format, write-unit budget, concurrency);
- the worker writes a batch through the batch layer at ``budget / concurrency`` units per
  second and returns the items it gave up; a failed batch is retried with backoff and
  jitter, then reported (``ToleratedFailurePercentage`` 100: one bad batch never stops
  the others, and none is dropped);
- ``ResultWriter`` writes every batch's output to ``results/<table>/`` flattened into JSON
  Lines: the given-up items as the rejects file ``fleet import`` re-imports; failed
  batches with their input.

Least privilege: the state machine reads ``imports/<table>/*``, writes ``results/<table>/*``
and invokes its own worker; the worker may only BatchWriteItem its one table.
"""

from __future__ import annotations

from aws_cdk import (
    ArnFormat,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from fleet.tables import ALL_TABLES, TableDef

from infra import constants as c
from infra.bulkmap import definition
from infra.bundling import function_code
from infra.config import StackConfig
from infra.functions import _ENI_ACTIONS, FleetFunctions
from infra.nag import acknowledge
from infra.network import FleetNetwork
from infra.tables import FleetTables

__all__ = ["BulkImport"]


class BulkImport(Construct):
    """The bucket, and a state machine + worker for each of ``c.BULK_IMPORT_TABLES``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        tables: FleetTables,
        functions: FleetFunctions,
        network: FleetNetwork | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = self._bucket(config)
        code = function_code()
        self.workers: dict[str, lambda_.Function] = {}
        self.state_machines: dict[str, sfn.StateMachine] = {}
        stack = Stack.of(self)
        for logical in c.BULK_IMPORT_TABLES:
            table = next(t for t in ALL_TABLES if t.logical_name == logical)
            worker = self._worker(table, config, tables, functions, network, code)
            self.workers[logical] = worker
            machine = self._state_machine(table, worker, config)
            self.state_machines[logical] = machine
            CfnOutput(
                stack,
                f"BulkImport{logical.capitalize()}StateMachineArn",
                value=machine.state_machine_arn,
                description=f"fleet import {logical} ... --distributed runs this",
            )
        CfnOutput(
            stack,
            "BulkImportBucketName",
            value=self.bucket.bucket_name,
            description="Distributed import: objects under imports/<table>/, results/<table>/",
        )

    def _bucket(self, config: StackConfig) -> s3.IBucket:
        if config.bulk_import_bucket:
            return s3.Bucket.from_bucket_name(self, "Bucket", config.bulk_import_bucket)
        bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Imports are staging copies; results matter until re-imported. Redrive works
            # for 14 days, so 30 days keeps everything a rerun could need.
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(30))],
            # Data: kept when the stack goes, as the prod tables are; delete it by hand.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Staging bucket of short-lived import objects and results (30-day lifecycle), "
            "reached only by the stack's roles; Step Functions and Lambda log every run.",
        )
        return bucket

    def _worker(
        self,
        table: TableDef,
        config: StackConfig,
        tables: FleetTables,
        functions: FleetFunctions,
        network: FleetNetwork | None,
        code: lambda_.Code,
    ) -> lambda_.Function:
        name = table.logical_name.capitalize()
        spec = c.BULK_WRITER
        log_group = logs.LogGroup(
            self,
            f"{name}WorkerLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        statements = [
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:BatchWriteItem"],
                resources=[tables.table(table).table_arn],
            ),
        ]
        if network is not None:
            statements.append(iam.PolicyStatement(actions=list(_ENI_ACTIONS), resources=["*"]))
        role = iam.Role(
            self,
            f"{name}WorkerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Device Fleet bulk writer: BatchWriteItem on {table.logical_name} only",
            inline_policies={"access": iam.PolicyDocument(statements=statements)},
        )
        if network is not None:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "Lambda's VPC networking: the ENI actions Lambda takes for the function "
                "support no resource-level scoping (AWSLambdaVPCAccessExecutionRole, written out).",
            )
        return lambda_.Function(
            self,
            f"{name}Worker",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code,
            layers=functions.layers,  # the batch layer (and Powertools, bundled or public)
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            # The map retries a failed batch itself, with backoff; Lambda's own async
            # retries do not apply to a synchronous invoke.
            description=spec.description,
            environment={
                "BULK_IMPORT_TABLE": table.logical_name,
                table.env_var: tables.table(table).table_name,
                "POWERTOOLS_SERVICE_NAME": f"{c.SERVICE_NAME}-{spec.name}",
                "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": c.LOG_LEVEL,
            },
            role=role,
            log_group=log_group,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnets if network else None,
            security_groups=[network.function_security_group] if network else None,
        )

    def _state_machine(
        self, table: TableDef, worker: lambda_.Function, config: StackConfig
    ) -> sfn.StateMachine:
        stack = Stack.of(self)
        logical = table.logical_name
        name = f"{stack.stack_name}-bulk-import-{logical}"
        # Built from the name, not from the resource: the role must name the state machine
        # (child executions) before the state machine exists.
        machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{name}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        imports = f"{c.BULK_IMPORT_PREFIX}/{logical}/"
        results = f"{c.BULK_RESULTS_PREFIX}/{logical}/"
        statements = [
            iam.PolicyStatement(
                sid="ListImports",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{imports}*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadImports",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{imports}*")],
            ),
            iam.PolicyStatement(
                sid="WriteResults",
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload",
                ],
                resources=[self.bucket.arn_for_objects(f"{results}*")],
            ),
            iam.PolicyStatement(
                sid="InvokeWorker",
                actions=["lambda:InvokeFunction"],
                resources=[worker.function_arn],
            ),
            iam.PolicyStatement(
                sid="ChildExecutions",
                actions=["states:StartExecution"],
                resources=[machine_arn],
            ),
            iam.PolicyStatement(
                sid="ManageChildExecutions",
                actions=[
                    "states:DescribeExecution",
                    "states:StopExecution",
                    "states:RedriveExecution",
                ],
                resources=[executions],
            ),
        ]
        role = iam.Role(
            self,
            f"{logical.capitalize()}StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Distributed import into {logical}: its prefixes and its worker only",
            inline_policies={"access": iam.PolicyDocument(statements=statements)},
        )
        log_group = logs.LogGroup(
            self,
            f"{logical.capitalize()}StateMachineLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        machine = sfn.StateMachine(
            self,
            f"{logical.capitalize()}StateMachine",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_string(
                stack.to_json_string(
                    definition(worker.function_arn, self.bucket.bucket_name, logical)
                )
            ),
            role=role,
            timeout=Duration.hours(c.BULK_IMPORT_TIMEOUT_HOURS),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        self._acknowledge_wildcards(role, imports, results, name)
        return machine

    def _acknowledge_wildcards(self, role: iam.Role, imports: str, results: str, name: str) -> None:
        """Each wildcard of the state machine's role, named, with why it cannot be narrower."""
        stack = Stack.of(self)
        bucket = self.bucket
        if isinstance(bucket, s3.Bucket):
            bucket_arn = f"<{stack.resolve(stack.get_logical_id(bucket.node.default_child))}.Arn>"  # type: ignore[arg-type]
        else:
            bucket_arn = f"arn:{stack.partition}:s3:::{bucket.bucket_name}"
        account = "<AWS::AccountId>"
        reasons = {
            f"Resource::{bucket_arn}/{imports}*": (
                "ItemReader reads the objects of one run under this table's own import "
                "prefix; their keys are only known when the run starts."
            ),
            f"Resource::{bucket_arn}/{results}*": (
                "ResultWriter names its manifest and result files after each map run, under "
                "this table's own results prefix."
            ),
            f"Resource::arn:{stack.partition}:states:{stack.region}:{account}:execution:{name}/*": (
                "The Distributed Map's child executions of this state machine only; their "
                "names are made by Step Functions at run time."
            ),
            "Resource::*": (
                "Step Functions' vended log delivery (logs:*LogDelivery, DescribeLogGroups...) "
                "and X-Ray trace segments support no resource-level scoping (CDK's own grants)."
            ),
        }
        for finding, reason in reasons.items():
            acknowledge(role, f"AwsSolutions-IAM5[{finding}]", reason)
