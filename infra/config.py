"""The deployment's settings, read once from CDK context and validated before any construct."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from infra import constants as c

__all__ = ["ConfigError", "StackConfig"]


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message names the key and the fix."""


@dataclass(frozen=True)
class StackConfig:
    """What varies between deployments. Build it with :meth:`from_context`.

    Attributes
    ----------
    stage
        ``dev`` (tables destroyed with the stack) or ``prod`` (tables retained, deletion
        protection on, longer log retention).
    cache
        ``valkey`` (VPC + ElastiCache Serverless) or ``none`` (no VPC, no ``CACHE_URL``).
    jwt_issuer, jwt_audience
        An external OIDC issuer and audience for the JWT authorizer; both unset means a
        Cognito user pool in the stack.
    """

    stage: str = "dev"
    cache: str = c.CACHE_VALKEY
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    caller_claim: str = c.DEFAULT_CALLER_CLAIM
    sweeper_rate_minutes: int = c.DEFAULT_SWEEPER_RATE_MINUTES
    warmer_rate_minutes: int = c.DEFAULT_WARMER_RATE_MINUTES
    powertools_layer_version: int = c.POWERTOOLS_LAYER_VERSION
    # Distributed import (infra/bulkimport.py): on by default; a bucket of yours, or one made.
    bulk_import: bool = True
    bulk_import_bucket: str | None = None

    def __post_init__(self) -> None:
        if self.stage not in c.STAGES:
            raise ConfigError(f"context {c.CTX_STAGE}={self.stage!r}: use one of {c.STAGES}")
        if self.cache not in c.CACHE_MODES:
            raise ConfigError(f"context {c.CTX_CACHE}={self.cache!r}: use one of {c.CACHE_MODES}")
        if bool(self.jwt_issuer) != bool(self.jwt_audience):
            raise ConfigError(
                f"context {c.CTX_JWT_ISSUER} and {c.CTX_JWT_AUDIENCE} go together: "
                "give both (external identity provider) or neither (Cognito in the stack)"
            )
        if self.jwt_issuer and not self.jwt_issuer.startswith("https://"):
            raise ConfigError(f"context {c.CTX_JWT_ISSUER} must be an https:// URL")
        for key, minutes in (
            (c.CTX_SWEEPER_RATE, self.sweeper_rate_minutes),
            (c.CTX_WARMER_RATE, self.warmer_rate_minutes),
        ):
            if not 1 <= minutes <= 1440:
                raise ConfigError(f"context {key}={minutes}: a rate in minutes, 1..1440")
        # A sweep that may run longer than the gap between runs would overlap the next one.
        if c.SWEEPER.timeout_seconds > self.sweeper_rate_minutes * 60:
            raise ConfigError(
                f"context {c.CTX_SWEEPER_RATE}={self.sweeper_rate_minutes}: shorter than the "
                f"sweeper's {c.SWEEPER.timeout_seconds} s timeout; runs would overlap"
            )

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def removal_policy(self) -> RemovalPolicy:
        """What happens to data and logs when the stack is deleted: prod keeps them."""
        return RemovalPolicy.RETAIN if self.is_prod else RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays.THREE_MONTHS if self.is_prod else logs.RetentionDays.ONE_WEEK

    @property
    def with_cache(self) -> bool:
        return self.cache == c.CACHE_VALKEY

    @property
    def with_cognito(self) -> bool:
        return self.jwt_issuer is None

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackConfig:
        """Read every setting through ``get`` (``node.try_get_context``); unset keys default.

        Context given on the command line arrives as strings; JSON in cdk.json may be typed.
        """
        audience = get(c.CTX_JWT_AUDIENCE)
        if isinstance(audience, str):
            audience = [a.strip() for a in audience.split(",") if a.strip()]
        defaults = cls.__dataclass_fields__
        return cls(
            stage=str(get(c.CTX_STAGE) or defaults["stage"].default),
            cache=str(get(c.CTX_CACHE) or defaults["cache"].default),
            jwt_issuer=get(c.CTX_JWT_ISSUER) or None,
            jwt_audience=tuple(audience or ()),
            caller_claim=str(get(c.CTX_CALLER_CLAIM) or c.DEFAULT_CALLER_CLAIM),
            sweeper_rate_minutes=_as_int(get, c.CTX_SWEEPER_RATE, c.DEFAULT_SWEEPER_RATE_MINUTES),
            warmer_rate_minutes=_as_int(get, c.CTX_WARMER_RATE, c.DEFAULT_WARMER_RATE_MINUTES),
            powertools_layer_version=_as_int(
                get, c.CTX_POWERTOOLS_LAYER_VERSION, c.POWERTOOLS_LAYER_VERSION
            ),
            bulk_import=_as_bool(get, c.CTX_BULK_IMPORT, default=True),
            bulk_import_bucket=get(c.CTX_BULK_IMPORT_BUCKET) or None,
        )


def _as_int(get: Callable[[str], Any], key: str, default: int) -> int:
    value = get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"context {key}={value!r}: a whole number") from None


def _as_bool(get: Callable[[str], Any], key: str, default: bool) -> bool:
    value = get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(f"context {key}={value!r}: true or false")
    return text == "true"
