"""The environment, read once into Settings: defaults, validation, clear errors."""

from __future__ import annotations

import pytest
from fleet.settings import Settings, SettingsError
from fleet.tables import DEVICES, IDEMPOTENCY, SESSIONS, USERS

FULL = {
    "DEVICES_TABLE": "fleet-devices",
    "USERS_TABLE": "fleet-users",
    "SESSIONS_TABLE": "fleet-sessions",
    "IDEMPOTENCY_TABLE": "fleet-idempotency",
}


def test_defaults_when_only_tables_are_set() -> None:
    settings = Settings.from_env(FULL)

    assert settings.table_name(DEVICES) == "fleet-devices"
    assert settings.cache_url is None
    assert settings.cache_ttl_seconds == 300
    assert settings.caller_claim == "sub"
    assert settings.sweeper_safety_margin_seconds == 10.0


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        FULL
        | {
            "CACHE_URL": "rediss://cache.example:6379",
            "CACHE_TTL_SECONDS": "60",
            "CALLER_CLAIM": "custom:userId",
            "SWEEPER_SAFETY_MARGIN_SECONDS": "2.5",
        }
    )

    assert settings.cache_url == "rediss://cache.example:6379"
    assert (settings.cache_ttl_seconds, settings.caller_claim) == (60, "custom:userId")
    assert settings.sweeper_safety_margin_seconds == 2.5


def test_key_schemas_use_the_deployed_names() -> None:
    assert Settings.from_env(FULL).key_schemas() == {
        "fleet-devices": ("deviceId",),
        "fleet-users": ("userId",),
        "fleet-sessions": ("sessionId",),
        "fleet-idempotency": ("id",),
    }


def test_a_function_names_every_missing_table() -> None:
    settings = Settings.from_env({"SESSIONS_TABLE": "fleet-sessions"})

    settings.require(SESSIONS)
    with pytest.raises(SettingsError, match="DEVICES_TABLE, USERS_TABLE"):
        settings.require(DEVICES, USERS)
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TABLE"):
        settings.table_name(IDEMPOTENCY)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEVICES_TABLE", "no spaces allowed", "DEVICES_TABLE"),
        ("DEVICES_TABLE", "ab", "DEVICES_TABLE"),
        ("CACHE_URL", "http://cache:6379", "CACHE_URL"),
        ("CACHE_TTL_SECONDS", "five", "CACHE_TTL_SECONDS"),
        ("CACHE_TTL_SECONDS", "0", "CACHE_TTL_SECONDS"),
        ("SWEEPER_SAFETY_MARGIN_SECONDS", "-1", "SWEEPER_SAFETY_MARGIN_SECONDS"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(FULL | {name: value})
