"""What runs the sweeps (two EventBridge schedules) and what watches everything (alarms)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import constants as c
from infra.config import StackConfig

__all__ = ["FleetSchedules", "FleetAlarms"]


class FleetSchedules(Construct):
    """EventBridge rules: their events carry ``source: aws.events``, as the handlers expect."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        sweeper: lambda_.IFunction,
        warmer: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.sweeper_rule = events.Rule(
            self,
            "SweeperSchedule",
            description="Deletes expired sessions",
            schedule=events.Schedule.rate(Duration.minutes(config.sweeper_rate_minutes)),
            targets=[targets.LambdaFunction(sweeper, retry_attempts=0)],
        )
        self.warmer_rule = events.Rule(
            self,
            "WarmerSchedule",
            description="Re-warms the devices of users with a live session",
            schedule=events.Schedule.rate(Duration.minutes(config.warmer_rate_minutes)),
            # A late warm is worth nothing: the next run comes within minutes.
            targets=[targets.LambdaFunction(warmer, retry_attempts=0)],
        )


class FleetAlarms(Construct):
    """Errors and throttles of every function, throttled requests of every table.

    Alarms have no actions: where they page is the operator's choice (an SNS topic added
    with ``alarm.add_alarm_action``); the state is visible in CloudWatch either way.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.Function],
        tables: dict[str, dynamodb.Table],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        period = Duration.minutes(c.ALARM_EVALUATION_MINUTES)
        for name, function in functions.items():
            prefix = name.capitalize()
            self._alarm(f"{prefix}Errors", function.metric_errors(period=period), name, "errors")
            self._alarm(
                f"{prefix}Throttles", function.metric_throttles(period=period), name, "throttles"
            )
        for name, table in tables.items():
            throttled = cloudwatch.MathExpression(
                expression="reads + writes",
                using_metrics={
                    "reads": table.metric("ReadThrottleEvents", period=period, statistic="Sum"),
                    "writes": table.metric("WriteThrottleEvents", period=period, statistic="Sum"),
                },
                label=f"{name} throttle events (reads + writes)",
                period=period,
            )
            self._alarm(f"{name.capitalize()}TableThrottles", throttled, name, "throttle events")

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, subject: str, what: str
    ) -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Device Fleet {subject}: {what} in the last "
                f"{c.ALARM_EVALUATION_MINUTES} minutes",
            )
        )
