"""The HTTP API: two routes behind a JWT authorizer, access logs, per-route throttling."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.config import StackConfig
from infra.nag import acknowledge

__all__ = ["FleetApi", "ACCESS_LOG_FIELDS", "access_log_fields"]

#: One JSON object per request in the access log: who, what, how it ended, how long.
#: ``caller`` is added by :func:`access_log_fields`: the claim the functions trust.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "responseLatency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


def access_log_fields(caller_claim: str) -> dict[str, str]:
    """The access log's fields; ``caller`` is the claim the functions take the caller from.

    ``caller_claim`` was checked against ``CLAIM_NAME_PATTERN`` (no quotes, no spaces), so
    it cannot break out of the JSON format string.
    """
    return {**ACCESS_LOG_FIELDS, "caller": f"$context.authorizer.claims.{caller_claim}"}


class FleetApi(Construct):
    """HTTP API (payload 2.0) for the loader and the transfer.

    The authorizer trusts the stack's Cognito user pool, or the issuer and audience given
    in context (``jwtIssuer`` / ``jwtAudience``), in which case no user pool is created.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        loader: lambda_.IFunction,
        transfer: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool: cognito.UserPool | None = None
        self.user_pool_client: cognito.UserPoolClient | None = None
        issuer, audience = self._identity(config)
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer", issuer, jwt_audience=audience
        )
        self.api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Device Fleet: device lists and ownership transfers",
            create_default_stage=False,
        )
        #: Route key -> the function behind it (its name keys the route's throttle).
        self.route_functions = {
            f"GET {c.LIST_DEVICES_ROUTE}": c.LOADER.name,
            f"POST {c.TRANSFER_ROUTE}": c.TRANSFER.name,
        }
        routes = [
            *self.api.add_routes(
                path=c.LIST_DEVICES_ROUTE,
                methods=[apigwv2.HttpMethod.GET],
                integration=integrations.HttpLambdaIntegration("Loader", loader),
                authorizer=self.authorizer,
            ),
            *self.api.add_routes(
                path=c.TRANSFER_ROUTE,
                methods=[apigwv2.HttpMethod.POST],
                integration=integrations.HttpLambdaIntegration("Transfer", transfer),
                authorizer=self.authorizer,
            ),
        ]
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.stage = self.api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=c.THROTTLE_RATE_LIMIT, burst_limit=c.THROTTLE_BURST_LIMIT
            ),
            access_log_settings=_AccessLogs(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(_json(access_log_fields(config.caller_claim))),
            ),
        )
        self._route_throttles(config, routes)

    def _route_throttles(self, config: StackConfig, routes: list[apigwv2.HttpRoute]) -> None:
        """Each route's own rate and burst (the L2 stage only knows the stage default)."""
        stage = self.stage.node.default_child
        assert isinstance(stage, apigwv2.CfnStage)
        stage.add_property_override(
            "RouteSettings",
            {
                key: {
                    "ThrottlingRateLimit": config.route_throttles[name][0],
                    "ThrottlingBurstLimit": config.route_throttles[name][1],
                }
                for key, name in self.route_functions.items()
            },
        )
        # Route settings name route keys: the routes must exist before the stage.
        for route in routes:
            self.stage.node.add_dependency(route)

    @property
    def url(self) -> str:
        return self.stage.url

    def _identity(self, config: StackConfig) -> tuple[str, list[str]]:
        if config.jwt_issuer:
            return config.jwt_issuer, list(config.jwt_audience)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            # Usernames are the fleet's userIds (user-0001), so `-c callerClaim=cognito:username`
            # can map tokens onto existing data; email works as a second sign-in name.
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=config.removal_policy,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            (
                "MFA is optional (TOTP, no SMS cost): users are created by an administrator "
                "and enrol TOTP themselves. Deployments that must enforce MFA bring their "
                "own identity provider through -c jwtIssuer / -c jwtAudience."
            ),
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            (
                "The Plus feature plan (threat protection) is billed per monthly active user; "
                "the API's only users are this fleet's operators and the stage is throttled."
            ),
        )
        self.user_pool_client = self.user_pool.add_client(
            "ApiClient",
            # SRP for applications; USER_PASSWORD (over TLS) so an operator can fetch a
            # token with `aws cognito-idp initiate-auth` (docs/deploy.md). Nothing uses
            # the hosted UI, so no OAuth at all: no implicit grant, no callback URL.
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            disable_o_auth=True,
            # Tokens from InitiateAuth always let their user call UpdateUserAttributes;
            # this list is what they may change. An empty list would mean "every
            # standard attribute" to Cognito, so it names one harmless attribute; nothing
            # a token carries as an identity (email, preferred_username, ...) is in it.
            write_attributes=cognito.ClientAttributes().with_standard_attributes(
                **{_ATTRIBUTE_MASK[a]: True for a in c.USER_WRITABLE_ATTRIBUTES}
            ),
            generate_secret=False,
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
        )
        region = Stack.of(self).region
        issuer = f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool.user_pool_id}"
        return issuer, [self.user_pool_client.user_pool_client_id]


#: Cognito attribute name -> the StandardAttributesMask keyword that selects it.
_ATTRIBUTE_MASK = {"locale": "locale", "zoneinfo": "timezone"}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """IAccessLogSettings is an interface in jsii, not a struct: Python implements it."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def _json(fields: dict[str, str]) -> str:
    # API Gateway substitutes $context variables inside the quotes; values stay strings.
    return "{" + ",".join(f'"{k}":"{v}"' for k, v in fields.items()) + "}"
