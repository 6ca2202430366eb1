"""The HTTP API, its authorizer, the schedules, the alarms and the stack's outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synth, logical_id

ROUTES = {
    "GET /users/{userId}/devices": "loader",
    "POST /devices/{deviceId}/transfer": "transfer",
}


def _one(synth: Synth, cfn_type: str) -> dict[str, Any]:
    (resource,) = synth.of_type(cfn_type).values()
    return resource


def _integration_function(synth: Synth, route: dict[str, Any]) -> str:
    target = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synth.resources[target]["Properties"]
    return str(integration["IntegrationUri"]["Fn::GetAtt"][0])


def test_both_routes_exist_and_reach_their_function(any_synth: Synth) -> None:
    routes = any_synth.of_type("AWS::ApiGatewayV2::Route").values()
    found = {r["Properties"]["RouteKey"]: _integration_function(any_synth, r) for r in routes}
    functions = any_synth.stack.functions.by_name
    assert found == {key: logical_id(any_synth, functions[f]) for key, f in ROUTES.items()}
    integrations = any_synth.of_type("AWS::ApiGatewayV2::Integration").values()
    assert {i["Properties"]["PayloadFormatVersion"] for i in integrations} == {"2.0"}


def test_both_routes_require_a_jwt(any_synth: Synth) -> None:
    authorizers = any_synth.of_type("AWS::ApiGatewayV2::Authorizer")
    (authorizer_id,) = authorizers
    assert authorizers[authorizer_id]["Properties"]["AuthorizerType"] == "JWT"
    for route in any_synth.of_type("AWS::ApiGatewayV2::Route").values():
        assert route["Properties"]["AuthorizationType"] == "JWT"
        assert route["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}


def test_default_authorizer_trusts_the_stacks_user_pool(default_synth: Synth) -> None:
    config = _one(default_synth, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    pool_id = logical_id(default_synth, default_synth.stack.api.user_pool)
    client_id = logical_id(default_synth, default_synth.stack.api.user_pool_client)

    assert config["IdentitySource"] == ["$request.header.Authorization"]
    assert config["JwtConfiguration"] == {
        "Audience": [{"Ref": client_id}],
        "Issuer": {
            "Fn::Join": ["", ["https://cognito-idp.eu-west-1.amazonaws.com/", {"Ref": pool_id}]]
        },
    }
    pool = _one(default_synth, "AWS::Cognito::UserPool")["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["AliasAttributes"] == ["email"]  # usernames are the fleet's userIds
    client = _one(default_synth, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is False


def test_the_user_pool_client_has_only_the_flows_the_project_uses(default_synth: Synth) -> None:
    client = _one(default_synth, "AWS::Cognito::UserPoolClient")["Properties"]
    assert sorted(client["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",  # `aws cognito-idp initiate-auth` in docs/deploy.md
        "ALLOW_USER_SRP_AUTH",
    ]
    # No OAuth: no implicit grant, no example.com callback, no admin scope.
    assert client["AllowedOAuthFlowsUserPoolClient"] is False
    for key in ("AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs", "LogoutURLs"):
        assert key not in client, key


def test_users_cannot_write_any_attribute_that_could_name_a_caller(
    default_synth: Synth,
) -> None:
    client = _one(default_synth, "AWS::Cognito::UserPoolClient")["Properties"]
    # Not empty: Cognito reads an empty list as "every standard attribute is writable".
    assert client["WriteAttributes"] == ["locale"]
    assert default_synth.stack.config.caller_claim not in client["WriteAttributes"]


def test_an_issuer_from_context_replaces_the_user_pool(prod_synth: Synth) -> None:
    config = _one(prod_synth, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert config["JwtConfiguration"] == {
        "Audience": ["fleet-api", "fleet-cli"],
        "Issuer": "https://issuer.example.com/",
    }
    assert prod_synth.of_type("AWS::Cognito::UserPool") == {}
    assert prod_synth.of_type("AWS::Cognito::UserPoolClient") == {}


@pytest.mark.parametrize(
    ("synth_name", "claim"), [("default_synth", "sub"), ("prod_synth", "email")]
)
def test_default_stage_logs_every_request_as_json_with_the_caller_claim_used(
    request: pytest.FixtureRequest, synth_name: str, claim: str
) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    stage = _one(synth, "AWS::ApiGatewayV2::Stage")["Properties"]
    log_group_id = logical_id(synth, synth.stack.api.access_logs)

    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "routeKey", "status", "integrationError", "caller"} <= set(fields)
    # The claim the functions take the caller from (CALLER_CLAIM), not a fixed `sub`.
    assert fields["caller"] == f"$context.authorizer.claims.{claim}"
    for name in ROUTES.values():
        function = synth.resources[logical_id(synth, synth.stack.functions.by_name[name])]
        assert function["Properties"]["Environment"]["Variables"]["CALLER_CLAIM"] == claim


@pytest.mark.parametrize(
    ("synth_name", "limits"),
    [
        ("default_synth", {"loader": (100, 200), "transfer": (20, 40)}),
        # -c loaderRateLimit=50 -c transferBurstLimit=10
        ("prod_synth", {"loader": (50, 200), "transfer": (20, 10)}),
    ],
)
def test_each_route_has_its_own_throttle(
    request: pytest.FixtureRequest, synth_name: str, limits: dict[str, tuple[int, int]]
) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    stage = _one(synth, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["RouteSettings"] == {
        key: {"ThrottlingRateLimit": limits[f][0], "ThrottlingBurstLimit": limits[f][1]}
        for key, f in ROUTES.items()
    }
    # Anything else (no other route exists) falls back to the stage default.
    assert props["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": 200,
        "ThrottlingRateLimit": 100,
    }
    # Route settings name route keys, so the routes must exist before the stage.
    assert set(synth.of_type("AWS::ApiGatewayV2::Route")) <= set(stage["DependsOn"])


@pytest.mark.parametrize(
    ("synth_name", "sweeper", "warmer"),
    [
        ("default_synth", "rate(5 minutes)", "rate(4 minutes)"),
        ("prod_synth", "rate(10 minutes)", "rate(2 minutes)"),
    ],
)
def test_two_schedules_invoke_the_sweeper_and_the_warmer(
    request: pytest.FixtureRequest, synth_name: str, sweeper: str, warmer: str
) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    rules = synth.of_type("AWS::Events::Rule").values()
    by_target = {}
    for rule in rules:
        (target,) = rule["Properties"]["Targets"]
        by_target[target["Arn"]["Fn::GetAtt"][0]] = rule["Properties"]["ScheduleExpression"]
        assert rule["Properties"]["State"] == "ENABLED"
    functions = synth.stack.functions.by_name
    assert by_target == {
        logical_id(synth, functions["sweeper"]): sweeper,
        logical_id(synth, functions["warmer"]): warmer,
    }


def test_eventbridge_may_invoke_the_scheduled_functions(default_synth: Synth) -> None:
    for name in ("sweeper", "warmer"):
        function_id = logical_id(default_synth, default_synth.stack.functions.by_name[name])
        default_synth.template.has_resource_properties(
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com",
                "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            },
        )


def test_failed_scheduled_runs_are_not_retried_into_the_next_run(any_synth: Synth) -> None:
    configs = any_synth.of_type("AWS::Lambda::EventInvokeConfig").values()
    functions = any_synth.stack.functions.by_name
    retried = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]["MaximumRetryAttempts"]
        for c in configs
    }
    assert retried == {
        logical_id(any_synth, functions["sweeper"]): 0,
        logical_id(any_synth, functions["warmer"]): 0,
    }


def test_alarms_watch_function_errors_throttles_and_table_throttling(any_synth: Synth) -> None:
    alarms = list(any_synth.of_type("AWS::CloudWatch::Alarm").values())
    by_metric: dict[str, int] = {}
    for alarm in alarms:
        props = alarm["Properties"]
        key = props.get("MetricName") or "table-throttles"
        by_metric[key] = by_metric.get(key, 0) + 1
        assert props["Threshold"] == 1
        assert props["TreatMissingData"] == "notBreaching"
    assert by_metric == {"Errors": 4, "Throttles": 4, "table-throttles": 4}
    any_synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": Match.array_with(
                [Match.object_like({"Expression": "reads + writes", "ReturnData": True})]
            )
        },
    )


def test_outputs_name_the_api_url_the_tables_and_the_user_pool(default_synth: Synth) -> None:
    outputs = default_synth.template.to_json()["Outputs"]
    api_id = logical_id(default_synth, default_synth.stack.api.api)
    assert outputs["ApiUrl"]["Value"]["Fn::Join"][1][:2] == ["https://", {"Ref": api_id}]
    assert {"UserPoolId", "UserPoolClientId", "CacheEndpoint"} <= set(outputs)
    assert {f"{t}TableName" for t in ("Devices", "Users", "Sessions", "Idempotency")} <= set(
        outputs
    )


def test_without_pool_or_cache_there_is_no_output_for_them(prod_synth: Synth) -> None:
    outputs = prod_synth.template.to_json()["Outputs"]
    assert "ApiUrl" in outputs
    assert not {"UserPoolId", "UserPoolClientId", "CacheEndpoint"} & set(outputs)
