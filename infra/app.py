"""Builds the CDK app: one stack per invocation, named after its stage, checked by cdk-nag."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants as c
from infra.config import StackConfig
from infra.stack import DeviceFleetStack

__all__ = ["build_app", "stack_name", "FEATURE_FLAGS"]

#: Feature flags live here rather than in cdk.json, so that tests (which build the app
#: in-process) and the CLI synthesize the same template.
FEATURE_FLAGS: dict[str, Any] = {
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
}


def stack_name(config: StackConfig) -> str:
    """``DeviceFleet-dev`` / ``DeviceFleet-prod``: both stages can live in one account."""
    return f"{c.STACK_NAME}-{config.stage}"


def build_app(
    context: Mapping[str, Any] | None = None, outdir: str | None = None
) -> tuple[App, DeviceFleetStack]:
    """The app and its stack. ``context`` is overridden by the command line's (``-c``).

    The stack is environment-agnostic for the account (synth needs no credentials) and
    pinned to a region, so that region-specific ARNs (the Powertools layer) resolve.
    """
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    config = StackConfig.from_context(app.node.try_get_context)
    region = (
        app.node.try_get_context(c.CTX_REGION)
        or os.environ.get("CDK_DEFAULT_REGION")
        or os.environ.get("AWS_REGION")
        or c.DEFAULT_REGION
    )
    stack = DeviceFleetStack(
        app,
        stack_name(config),
        config=config,
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region),
        description="Device Fleet: devices, users, sessions; batch layer, four functions, HTTP API",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
