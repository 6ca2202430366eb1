"""Context flags: what a platform engineer may pass with -c, and what is refused before synth."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import constants as c
from infra.bundling import LayerBundler, package_dir
from infra.config import ConfigError, StackConfig


def _from(context: dict[str, object]) -> StackConfig:
    return StackConfig.from_context(context.get)


def test_nothing_given_means_dev_with_the_cache_and_cognito() -> None:
    config = _from({})
    assert (config.stage, config.cache, config.with_cognito) == ("dev", "valkey", True)
    assert config.sweeper_rate_minutes == c.DEFAULT_SWEEPER_RATE_MINUTES
    assert config.warmer_rate_minutes == c.DEFAULT_WARMER_RATE_MINUTES


def test_command_line_strings_are_parsed() -> None:
    # `cdk deploy -c sweeperRateMinutes=15 -c jwtAudience=a,b` arrives as strings.
    config = _from(
        {
            "sweeperRateMinutes": "15",
            "warmerRateMinutes": "3",
            "jwtIssuer": "https://login.example.com",
            "jwtAudience": "a, b",
            "powertools": "public",
            "transferRateLimit": "5",
            "warmerReservedConcurrency": "none",
            "dynamodbPrefixListId": "pl-6da54004",
        }
    )
    assert config.sweeper_rate_minutes == 15
    assert config.warmer_rate_minutes == 3
    assert config.jwt_audience == ("a", "b")
    assert config.powertools == "public"
    assert config.route_throttles == {"loader": (100, 200), "transfer": (5, 40)}
    assert config.reserved_concurrency["warmer"] is None
    assert config.reserved_concurrency["sweeper"] == 1
    assert config.dynamodb_prefix_list_id == "pl-6da54004"
    assert not config.with_cognito


@pytest.mark.parametrize("claim", ["sub", "cognito:username"])
def test_immutable_claims_may_name_the_caller(claim: str) -> None:
    assert _from({"callerClaim": claim}).caller_claim == claim


@pytest.mark.parametrize("flag", ["true", True, "TRUE"])
def test_another_claim_needs_the_operator_to_vouch_for_it(flag: object) -> None:
    config = _from({"callerClaim": "custom:employee_id", "callerClaimImmutable": flag})
    assert (config.caller_claim, config.caller_claim_immutable) == ("custom:employee_id", True)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stage": "staging"}, "stage='staging'"),
        ({"cache": "redis"}, "cache='redis'"),
        ({"jwtIssuer": "https://login.example.com"}, "go together"),
        ({"jwtAudience": "fleet"}, "go together"),
        ({"jwtIssuer": "http://login.example.com", "jwtAudience": "x"}, "https://"),
        ({"sweeperRateMinutes": "0"}, "1..1440"),
        ({"warmerRateMinutes": "soon"}, "whole number"),
        # A 2-minute sweeper timeout would overlap a sweep every minute.
        ({"sweeperRateMinutes": "1"}, "runs would overlap"),
        # Users may change these about themselves: they cannot name a caller.
        ({"callerClaim": "email"}, "callerClaimImmutable=true"),
        ({"callerClaim": "preferred_username"}, "never changes"),
        ({"callerClaim": "email", "callerClaimImmutable": "false"}, "callerClaimImmutable"),
        ({"callerClaim": "email", "callerClaimImmutable": "yes"}, "true or false"),
        ({"callerClaim": "locale", "callerClaimImmutable": "true"}, "change this attribute"),
        # The claim name goes into the access log format: nothing that could escape it.
        ({"callerClaim": 'sub","x":"'}, "not a JWT claim name"),
        ({"callerClaim": "sub "}, "not a JWT claim name"),
        ({"powertools": "latest"}, "powertools='latest'"),
        ({"dynamodbPrefixListId": "sg-123"}, "prefix list id"),
        ({"loaderReservedConcurrency": "0"}, "loaderReservedConcurrency=0"),
        ({"sweeperReservedConcurrency": "many"}, "whole number"),
        ({"transferRateLimit": "0"}, "transferRateLimit=0"),
        ({"loaderBurstLimit": "-1"}, "loaderBurstLimit=-1"),
    ],
)
def test_bad_context_is_refused_with_the_key_named(
    context: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _from(context)


def test_sweeper_margin_leaves_most_of_its_time_budget() -> None:
    assert 0 < c.SWEEPER_SAFETY_MARGIN_SECONDS <= c.SWEEPER.timeout_seconds / 4


def test_warmer_runs_before_cached_devices_expire() -> None:
    assert c.DEFAULT_WARMER_RATE_MINUTES * 60 < c.CACHE_TTL_SECONDS


def test_layer_bundler_copies_packages_without_caches(tmp_path: Path) -> None:
    # Given a package with bytecode caches next to its sources
    package = tmp_path / "src" / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "__pycache__" / "__init__.cpython-314.pyc").write_bytes(b"stale")
    (package / "old.pyc").write_bytes(b"stale")

    # When bundling it with an installed package
    out = tmp_path / "layer"
    assert LayerBundler({"pkg": package, "valkey": package_dir("valkey")}).try_bundle(str(out))

    # Then the layer has python/<package> and no compiled files
    assert (out / "python" / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert (out / "python" / "valkey" / "__init__.py").is_file()
    assert not list(out.rglob("__pycache__"))
    assert not list(out.rglob("*.pyc"))


def test_a_missing_package_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not installed"):
        package_dir("no_such_package_here")
