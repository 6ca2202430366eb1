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
            "powertoolsLayerVersion": "41",
        }
    )
    assert config.sweeper_rate_minutes == 15
    assert config.warmer_rate_minutes == 3
    assert config.jwt_audience == ("a", "b")
    assert config.powertools_layer_version == 41
    assert not config.with_cognito


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
