"""The layer, the four functions, their environment, and exactly what each may do."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fleet.tables import ALL_TABLES

from infra import constants as c
from infra.constants import REPO_ROOT
from tests.infra.conftest import Synth, logical_id

HANDLERS = {
    "loader": "fleet.handlers.loader.handler",
    "transfer": "fleet.handlers.transfer.handler",
    "warmer": "fleet.handlers.warmer.handler",
    "sweeper": "fleet.handlers.sweeper.handler",
}


def _function(synth: Synth, name: str) -> dict[str, Any]:
    return synth.resources[logical_id(synth, synth.stack.functions.by_name[name])]


def _files(root: Any) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_layer_holds_dynabatch_valkey_and_powertools_under_python(default_synth: Synth) -> None:
    layer_id = logical_id(default_synth, default_synth.stack.functions.layer)
    files = _files(default_synth.asset_dir(layer_id))

    assert "python/dynabatch/__init__.py" in files
    assert "python/dynabatch/client.py" in files
    assert "python/valkey/__init__.py" in files
    assert "python/aws_lambda_powertools/utilities/idempotency/__init__.py" in files
    # Powertools' own dependencies travel with it: nothing is left to the runtime's luck.
    assert "python/jmespath/__init__.py" in files
    assert "python/typing_extensions.py" in files
    assert {f.split("/")[1] for f in files} == {
        "dynabatch",
        "valkey",
        "aws_lambda_powertools",
        "jmespath",
        "typing_extensions.py",
    }
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def _pinned(distribution: str) -> str:
    """The version requirements.txt pins (what `make install` and the tests use)."""
    wanted = re.sub(r"[-_.]+", "-", distribution).lower()
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if re.sub(r"[-_.]+", "-", name).lower() == wanted:
            return version.strip()
    raise AssertionError(f"{distribution} is not pinned in requirements.txt")


def test_deployed_powertools_is_the_pinned_release(default_synth: Synth) -> None:
    layer_id = logical_id(default_synth, default_synth.stack.functions.layer)
    version_file = (
        default_synth.asset_dir(layer_id) / "python/aws_lambda_powertools/shared/version.py"
    )
    deployed = re.search(r'VERSION = "([^"]+)"', version_file.read_text())
    assert deployed is not None
    assert deployed.group(1) == _pinned("aws-lambda-powertools")
    description = default_synth.resources[layer_id]["Properties"]["Description"]
    assert description.endswith(f"Powertools {deployed.group(1)}")


def test_public_powertools_is_the_pinned_release_through_ssm(prod_synth: Synth) -> None:
    # Given -c powertools=public, the functions take AWS's layer for exactly the pinned
    # release, resolved by CloudFormation from AWS's SSM parameter at deploy time
    parameters = prod_synth.template.to_json()["Parameters"]
    (param_id,) = [
        k
        for k, v in parameters.items()
        if v["Type"] == "AWS::SSM::Parameter::Value<String>"
        and v["Default"].startswith("/aws/service/powertools/")
    ]
    pinned = _pinned("aws-lambda-powertools")
    assert parameters[param_id]["Default"] == (
        f"/aws/service/powertools/python/arm64/python3.14/{pinned}"
    )
    for name in HANDLERS:
        assert {"Ref": param_id} in _function(prod_synth, name)["Properties"]["Layers"]
    # and the project's layer does not carry a second copy
    layer_id = logical_id(prod_synth, prod_synth.stack.functions.layer)
    tops = {f.split("/")[1] for f in _files(prod_synth.asset_dir(layer_id))}
    assert tops == {"dynabatch", "valkey"}


def test_layer_is_for_the_functions_runtime_and_architecture(default_synth: Synth) -> None:
    layer_id = logical_id(default_synth, default_synth.stack.functions.layer)
    props = default_synth.resources[layer_id]["Properties"]
    assert props["CompatibleRuntimes"] == ["python3.14"]
    assert props["CompatibleArchitectures"] == ["arm64"]


def test_function_code_is_lambdas_without_the_layer_package_or_caches(
    default_synth: Synth,
) -> None:
    files = _files(default_synth.asset_dir(logical_id(default_synth, _loader(default_synth))))

    assert "fleet/tables.py" in files
    assert not [f for f in files if f.startswith("dynabatch/")]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def _loader(synth: Synth) -> Any:
    return synth.stack.functions.by_name["loader"]


def test_all_functions_share_one_code_asset(default_synth: Synth) -> None:
    keys = {_function(default_synth, n)["Properties"]["Code"]["S3Key"] for n in HANDLERS}
    assert len(keys) == 1


@pytest.mark.parametrize("spec", c.FUNCTIONS, ids=lambda s: s.name)
def test_functions_run_the_latest_python_on_arm64_with_the_projects_layer(
    default_synth: Synth, spec: c.FunctionSpec
) -> None:
    props = _function(default_synth, spec.name)["Properties"]

    assert props["Handler"] == HANDLERS[spec.name]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == spec.memory_mb
    assert props["Timeout"] == spec.timeout_seconds
    # One layer, built here: no public layer whose release the tests never ran.
    assert props["Layers"] == [
        {"Ref": logical_id(default_synth, default_synth.stack.functions.layer)}
    ]


@pytest.mark.parametrize(
    ("synth_name", "expected"),
    [
        ("default_synth", {"loader": 20, "transfer": 10, "warmer": 1, "sweeper": 1}),
        # -c loaderReservedConcurrency=100 -c sweeperReservedConcurrency=none
        ("prod_synth", {"loader": 100, "transfer": 10, "warmer": 1, "sweeper": None}),
    ],
)
def test_each_function_has_its_reserved_concurrency(
    request: pytest.FixtureRequest, synth_name: str, expected: dict[str, int | None]
) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    found = {
        name: _function(synth, name)["Properties"].get("ReservedConcurrentExecutions")
        for name in HANDLERS
    }
    assert found == expected


def test_sweeper_stops_well_before_its_timeout(default_synth: Synth) -> None:
    props = _function(default_synth, "sweeper")["Properties"]
    margin = int(props["Environment"]["Variables"]["SWEEPER_SAFETY_MARGIN_SECONDS"])
    assert 0 < margin <= props["Timeout"] / 4


def _env(synth: Synth, name: str) -> dict[str, Any]:
    variables: dict[str, Any] = _function(synth, name)["Properties"]["Environment"]["Variables"]
    return variables


@pytest.mark.parametrize("name", HANDLERS)
def test_every_function_gets_table_names_from_the_stack(any_synth: Synth, name: str) -> None:
    env = _env(any_synth, name)
    tables = any_synth.stack.tables
    for definition in ALL_TABLES:
        assert env[definition.env_var] == {"Ref": logical_id(any_synth, tables.table(definition))}
    assert env["POWERTOOLS_SERVICE_NAME"] == f"device-fleet-{name}"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "DeviceFleet"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["CACHE_TTL_SECONDS"] == "300"
    assert env["CALLER_CLAIM"] == any_synth.stack.config.caller_claim


@pytest.mark.parametrize("name", HANDLERS)
def test_with_the_cache_functions_get_a_tls_url_and_sit_in_the_vpc(
    default_synth: Synth, name: str
) -> None:
    props = _function(default_synth, name)["Properties"]
    env = props["Environment"]["Variables"]
    cache_id = logical_id(default_synth, default_synth.stack.network.cache)
    cache = default_synth.resources[cache_id]["Properties"]
    (user,) = default_synth.of_type("AWS::ElastiCache::User").values()

    assert env["CACHE_URL"] == {
        "Fn::Join": ["", ["rediss://", {"Fn::GetAtt": [cache_id, "Endpoint.Address"]}, ":6379"]]
    }
    # What the client signs its IAM AUTH token for: this cache, as this user.
    assert env["CACHE_AUTH"] == "iam"
    assert env["CACHE_USER_ID"] == user["Properties"]["UserId"]
    assert env["CACHE_NAME"] == cache["ServerlessCacheName"]
    sg_id = logical_id(default_synth, default_synth.stack.network.function_security_group)
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [sg_id, "GroupId"]}]
    assert len(props["VpcConfig"]["SubnetIds"]) == 2


@pytest.mark.parametrize("name", HANDLERS)
def test_without_the_cache_functions_read_dynamodb_directly(prod_synth: Synth, name: str) -> None:
    props = _function(prod_synth, name)["Properties"]
    env = props["Environment"]["Variables"]
    assert not {"CACHE_URL", "CACHE_AUTH", "CACHE_USER_ID", "CACHE_NAME"} & set(env)
    assert "VpcConfig" not in props
