"""The functions' configuration, read from the environment once and validated.

Every function reads the same variables; each one *requires* only the tables it uses, so
a function deployed with least privilege (and only its own table names) still starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .tables import ALL_TABLES, TableDef

__all__ = ["Settings", "SettingsError", "DEFAULT_CACHE_TTL_SECONDS", "DEFAULT_SAFETY_MARGIN"]

DEFAULT_CACHE_TTL_SECONDS = 300
DEFAULT_CALLER_CLAIM = "sub"
DEFAULT_SAFETY_MARGIN = 10.0

# DynamoDB's own rule for table names.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.\-]{3,255}")
_CACHE_SCHEMES = ("memory://", "redis://", "rediss://", "valkey://", "valkeys://", "unix://")
_TLS_SCHEMES = ("rediss://", "valkeys://")
CACHE_AUTH_MODES = ("none", "iam")


class SettingsError(ValueError):
    """The environment is missing a variable a function needs, or holds a bad value."""


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment variables.

    Attributes
    ----------
    tables:
        Logical table name (``devices``...) to the deployed name, for the tables whose
        variable is set.
    cache_url:
        ``None``: no shared cache. ``memory://``: the embedded in-process cache. Any
        ``redis://`` / ``rediss://`` URL: a Valkey or Redis server.
    cache_ttl_seconds:
        Time to live of cached devices.
    caller_claim:
        The JWT claim naming the caller's userId.
    sweeper_safety_margin_seconds:
        The sweeper starts no new work when less than this remains of its invocation.
    cache_auth:
        ``none`` (``CACHE_AUTH`` unset), or ``iam``: AUTH with a SigV4 token signed by the
        function's role for the ElastiCache user ``cache_user_id`` of the serverless cache
        ``cache_name``, over TLS (``CACHE_URL`` must be ``rediss://``).
    region:
        ``AWS_REGION`` (set by Lambda) or ``AWS_DEFAULT_REGION``: where the cache is.
    """

    tables: Mapping[str, str] = field(default_factory=dict)
    cache_url: str | None = None
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS
    caller_claim: str = DEFAULT_CALLER_CLAIM
    sweeper_safety_margin_seconds: float = DEFAULT_SAFETY_MARGIN
    cache_auth: str = "none"
    cache_user_id: str | None = None
    cache_name: str | None = None
    region: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the variables.

        Raises
        ------
        SettingsError
            A table name, TTL, margin or cache URL that is set but malformed.
        """
        env = os.environ if environ is None else environ
        tables: dict[str, str] = {}
        for table in ALL_TABLES:
            name = env.get(table.env_var, "").strip()
            if not name:
                continue
            if not _TABLE_NAME.fullmatch(name):
                raise SettingsError(f"{table.env_var}={name!r} is not a valid DynamoDB table name")
            tables[table.logical_name] = name
        cache_url = env.get("CACHE_URL", "").strip() or None
        if cache_url is not None and not cache_url.startswith(_CACHE_SCHEMES):
            raise SettingsError(
                f"CACHE_URL={cache_url!r}: expected memory:// or a redis:// / rediss:// URL"
            )
        ttl = _number(env, "CACHE_TTL_SECONDS", DEFAULT_CACHE_TTL_SECONDS, int)
        if ttl < 1:
            raise SettingsError("CACHE_TTL_SECONDS must be at least 1")
        margin = _number(env, "SWEEPER_SAFETY_MARGIN_SECONDS", DEFAULT_SAFETY_MARGIN, float)
        if margin < 0:
            raise SettingsError("SWEEPER_SAFETY_MARGIN_SECONDS must not be negative")
        claim = env.get("CALLER_CLAIM", "").strip() or DEFAULT_CALLER_CLAIM
        region = (env.get("AWS_REGION", "") or env.get("AWS_DEFAULT_REGION", "")).strip() or None
        auth, user_id, cache_name = _cache_auth(env, cache_url, region)
        return cls(
            tables, cache_url, int(ttl), claim, float(margin), auth, user_id, cache_name, region
        )

    def table_name(self, table: TableDef) -> str:
        """The deployed name of ``table``.

        Raises
        ------
        SettingsError
            Its environment variable is not set.
        """
        name = self.tables.get(table.logical_name)
        if name is None:
            raise SettingsError(f"environment variable {table.env_var} is not set")
        return name

    def require(self, *tables: TableDef) -> None:
        """Fail at once, naming every missing variable, when a function's tables are not set."""
        missing = [t.env_var for t in tables if t.logical_name not in self.tables]
        if missing:
            raise SettingsError(f"environment variable(s) not set: {', '.join(missing)}")

    def key_schemas(self) -> dict[str, tuple[str, ...]]:
        """Deployed table name to key names, so the batch layer never needs DescribeTable."""
        return {
            self.tables[t.logical_name]: t.key_names()
            for t in ALL_TABLES
            if t.logical_name in self.tables
        }


def _cache_auth(
    env: Mapping[str, str], cache_url: str | None, region: str | None
) -> tuple[str, str | None, str | None]:
    auth = env.get("CACHE_AUTH", "").strip() or "none"
    if auth not in CACHE_AUTH_MODES:
        raise SettingsError(f"CACHE_AUTH={auth!r}: expected one of {', '.join(CACHE_AUTH_MODES)}")
    if auth == "none":
        return auth, None, None
    user_id = env.get("CACHE_USER_ID", "").strip()
    cache_name = env.get("CACHE_NAME", "").strip()
    missing = [n for n, v in (("CACHE_USER_ID", user_id), ("CACHE_NAME", cache_name)) if not v]
    if region is None:
        missing.append("AWS_REGION")
    if missing:
        raise SettingsError(f"CACHE_AUTH=iam needs {', '.join(missing)}")
    # An IAM token is a bearer credential for 15 minutes: it never travels in clear text.
    if cache_url is None or not cache_url.startswith(_TLS_SCHEMES):
        raise SettingsError("CACHE_AUTH=iam needs a rediss:// CACHE_URL (TLS)")
    return auth, user_id, cache_name


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(kind(raw))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
