"""The deployment's settings, read once from CDK context and validated before any construct."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from infra import constants as c

__all__ = ["ConfigError", "StackConfig"]


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message names the key and the fix."""


def _default_throttles() -> dict[str, tuple[int, int]]:
    """Function name -> (steady requests/s, burst) of its route, for the API functions."""
    return {
        s.name: (s.rate_limit, s.burst_limit)
        for s in c.FUNCTIONS
        if s.rate_limit is not None and s.burst_limit is not None
    }


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
    caller_claim, caller_claim_immutable
        The JWT claim that names the caller: ``sub`` or ``cognito:username``, or another
        claim only when the operator vouches that it is immutable.
    powertools
        ``bundled`` (the pinned release in the project's layer) or ``public`` (AWS's
        layer of that same release, found through SSM at deploy time).
    dynamodb_prefix_list_id
        The region's DynamoDB prefix list; unset means it is looked up at deploy time.
    reserved_concurrency, route_throttles
        Per function: reserved concurrency (None: none reserved); per API function: the
        (rate, burst) of its route.
    """

    stage: str = "dev"
    cache: str = c.CACHE_VALKEY
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    caller_claim: str = c.DEFAULT_CALLER_CLAIM
    caller_claim_immutable: bool = False
    sweeper_rate_minutes: int = c.DEFAULT_SWEEPER_RATE_MINUTES
    warmer_rate_minutes: int = c.DEFAULT_WARMER_RATE_MINUTES
    powertools: str = c.POWERTOOLS_BUNDLED
    dynamodb_prefix_list_id: str | None = None
    reserved_concurrency: Mapping[str, int | None] = field(
        default_factory=lambda: {s.name: s.reserved_concurrency for s in c.FUNCTIONS}
    )
    route_throttles: Mapping[str, tuple[int, int]] = field(default_factory=_default_throttles)
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
        self._check_caller_claim()
        self._check_rates()
        self._check_limits()
        if self.powertools not in c.POWERTOOLS_SOURCES:
            raise ConfigError(
                f"context {c.CTX_POWERTOOLS}={self.powertools!r}: use one of {c.POWERTOOLS_SOURCES}"
            )
        if self.dynamodb_prefix_list_id is not None and not re.fullmatch(
            r"pl-[0-9a-f]{8,17}", self.dynamodb_prefix_list_id
        ):
            raise ConfigError(
                f"context {c.CTX_DYNAMODB_PREFIX_LIST}={self.dynamodb_prefix_list_id!r}: "
                "a prefix list id (pl-...), as `aws ec2 describe-prefix-lists` shows for "
                "com.amazonaws.<region>.dynamodb"
            )

    def _check_caller_claim(self) -> None:
        claim = self.caller_claim
        if not re.fullmatch(c.CLAIM_NAME_PATTERN, claim):
            raise ConfigError(f"context {c.CTX_CALLER_CLAIM}={claim!r}: not a JWT claim name")
        if claim not in c.IMMUTABLE_CLAIMS and not self.caller_claim_immutable:
            raise ConfigError(
                f"context {c.CTX_CALLER_CLAIM}={claim!r}: the caller claim must be one no "
                f"user can change about themselves ({', '.join(c.IMMUTABLE_CLAIMS)}); if your "
                f"identity provider guarantees {claim!r} never changes and is never reused, "
                f"say so with -c {c.CTX_CALLER_CLAIM_IMMUTABLE}=true"
            )
        if self.with_cognito and claim in c.USER_WRITABLE_ATTRIBUTES:
            raise ConfigError(
                f"context {c.CTX_CALLER_CLAIM}={claim!r}: users of the stack's user pool may "
                "change this attribute themselves, so it cannot identify them"
            )

    def _check_rates(self) -> None:
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

    def _check_limits(self) -> None:
        for name, reserved in self.reserved_concurrency.items():
            # 0 would be Lambda's "never run": refuse it rather than deploy a dead function.
            if reserved is not None and not 1 <= reserved <= 10_000:
                raise ConfigError(
                    f"context {name}{c.CTX_RESERVED_CONCURRENCY_SUFFIX}={reserved}: 1..10000, "
                    "or none for no reservation"
                )
        for name, (rate, burst) in self.route_throttles.items():
            for suffix, value in (
                (c.CTX_RATE_LIMIT_SUFFIX, rate),
                (c.CTX_BURST_LIMIT_SUFFIX, burst),
            ):
                if not 1 <= value <= 10_000:
                    raise ConfigError(f"context {name}{suffix}={value}: 1..10000 requests")

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
            caller_claim_immutable=_as_bool(get, c.CTX_CALLER_CLAIM_IMMUTABLE),
            sweeper_rate_minutes=_as_int(get, c.CTX_SWEEPER_RATE, c.DEFAULT_SWEEPER_RATE_MINUTES),
            warmer_rate_minutes=_as_int(get, c.CTX_WARMER_RATE, c.DEFAULT_WARMER_RATE_MINUTES),
            powertools=str(get(c.CTX_POWERTOOLS) or c.POWERTOOLS_BUNDLED),
            dynamodb_prefix_list_id=get(c.CTX_DYNAMODB_PREFIX_LIST) or None,
            reserved_concurrency={
                s.name: _as_optional_int(
                    get, s.name + c.CTX_RESERVED_CONCURRENCY_SUFFIX, s.reserved_concurrency
                )
                for s in c.FUNCTIONS
            },
            route_throttles={
                name: (
                    _as_int(get, name + c.CTX_RATE_LIMIT_SUFFIX, rate),
                    _as_int(get, name + c.CTX_BURST_LIMIT_SUFFIX, burst),
                )
                for name, (rate, burst) in _default_throttles().items()
            },
            # Unset means on: the distributed import is part of the default deployment.
            bulk_import=get(c.CTX_BULK_IMPORT) in (None, "") or _as_bool(get, c.CTX_BULK_IMPORT),
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


def _as_optional_int(get: Callable[[str], Any], key: str, default: int | None) -> int | None:
    value = get(key)
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    return default if value is None or value == "" else _as_int(get, key, 0)


def _as_bool(get: Callable[[str], Any], key: str) -> bool:
    value = get(key)
    if value is None or value == "" or value is False:
        return False
    if value is True or str(value).strip().lower() == "true":
        return True
    if str(value).strip().lower() == "false":
        return False
    raise ConfigError(f"context {key}={value!r}: true or false")
