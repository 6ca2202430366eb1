"""The layer, the four functions, their environment, and exactly what each may do."""

from __future__ import annotations

from typing import Any

import pytest
from fleet.tables import ALL_TABLES

from infra import constants as c
from tests.infra.conftest import Synth, logical_id

HANDLERS = {
    "loader": "handlers.loader.handler",
    "transfer": "handlers.transfer.handler",
    "warmer": "handlers.warmer.handler",
    "sweeper": "handlers.sweeper.handler",
}


def _function(synth: Synth, name: str) -> dict[str, Any]:
    return synth.resources[logical_id(synth, synth.stack.functions.by_name[name])]


def _files(root: Any) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_layer_holds_dynabatch_and_valkey_under_python(default_synth: Synth) -> None:
    layer_id = logical_id(default_synth, default_synth.stack.functions.layer)
    files = _files(default_synth.asset_dir(layer_id))

    assert "python/dynabatch/__init__.py" in files
    assert "python/dynabatch/client.py" in files
    assert "python/valkey/__init__.py" in files
    assert {f.split("/")[1] for f in files} == {"dynabatch", "valkey"}
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


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
def test_functions_run_the_latest_python_on_arm64_with_both_layers(
    any_synth: Synth, spec: c.FunctionSpec
) -> None:
    props = _function(any_synth, spec.name)["Properties"]
    region = any_synth.stack.region
    version = any_synth.stack.config.powertools_layer_version

    assert props["Handler"] == HANDLERS[spec.name]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == spec.memory_mb
    assert props["Timeout"] == spec.timeout_seconds
    # Order does not matter: the layers share no path under /opt.
    assert len(props["Layers"]) == 2
    assert (
        f"arn:aws:lambda:{region}:017000801446:layer:"
        f"AWSLambdaPowertoolsPythonV3-python314-arm64:{version}"
    ) in props["Layers"]
    assert {"Ref": logical_id(any_synth, any_synth.stack.functions.layer)} in props["Layers"]


def test_powertools_layer_follows_region_and_context_version(prod_synth: Synth) -> None:
    layers = _function(prod_synth, "loader")["Properties"]["Layers"]
    (arn,) = [layer for layer in layers if isinstance(layer, str)]
    assert arn.startswith("arn:aws:lambda:us-east-1:")
    assert arn.endswith("-python314-arm64:40")


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
    assert env["CALLER_CLAIM"] == "sub"


@pytest.mark.parametrize("name", HANDLERS)
def test_with_the_cache_functions_get_a_tls_url_and_sit_in_the_vpc(
    default_synth: Synth, name: str
) -> None:
    props = _function(default_synth, name)["Properties"]
    cache_id = logical_id(default_synth, default_synth.stack.network.cache)

    assert props["Environment"]["Variables"]["CACHE_URL"] == {
        "Fn::Join": ["", ["rediss://", {"Fn::GetAtt": [cache_id, "Endpoint.Address"]}, ":6379"]]
    }
    sg_id = logical_id(default_synth, default_synth.stack.network.function_security_group)
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [sg_id, "GroupId"]}]
    assert len(props["VpcConfig"]["SubnetIds"]) == 2


@pytest.mark.parametrize("name", HANDLERS)
def test_without_the_cache_functions_read_dynamodb_directly(prod_synth: Synth, name: str) -> None:
    props = _function(prod_synth, name)["Properties"]
    assert "CACHE_URL" not in props["Environment"]["Variables"]
    assert "VpcConfig" not in props
