"""Each variant of the stack is synthesized once per test session (about 6 s each)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnElement
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import DeviceFleetStack

#: The default deployment: dev, Valkey cache in a VPC, Cognito user pool.
DEFAULT_CONTEXT: dict[str, Any] = {"region": "eu-west-1"}
#: Everything else at once: prod, no cache, an external issuer whose `email` claim the
#: operator vouches for, custom schedule rates, limits, AWS's public Powertools layer,
#: and no distributed import.
PROD_CONTEXT: dict[str, Any] = {
    "region": "us-east-1",
    "bulkImport": "false",
    "stage": "prod",
    "cache": "none",
    "jwtIssuer": "https://issuer.example.com/",
    "jwtAudience": "fleet-api,fleet-cli",
    "callerClaim": "email",
    "callerClaimImmutable": "true",
    "sweeperRateMinutes": "10",
    "warmerRateMinutes": "2",
    "powertools": "public",
    "loaderRateLimit": "50",
    "transferBurstLimit": "10",
    "loaderReservedConcurrency": "100",
    "sweeperReservedConcurrency": "none",
}


@dataclass
class Synth:
    """One synthesized variant: the app, its stack, the template, the cloud assembly dir."""

    app: App
    stack: DeviceFleetStack
    template: Template
    outdir: Path

    @property
    def template_file(self) -> Path:
        return self.outdir / f"{self.stack.stack_name}.template.json"

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = self.template.to_json()["Resources"]
        return data

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def asset_dir(self, logical_id: str) -> Path:
        """The directory CDK staged for the Lambda code or layer ``logical_id``."""
        properties = self.resources[logical_id]["Properties"]
        s3_key: str = (properties.get("Code") or properties["Content"])["S3Key"]
        return self.outdir / f"asset.{s3_key.removesuffix('.zip')}"

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        path = self.outdir / f"{self.stack.stack_name}.metadata.json"
        data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
        return data


def _synth(context: Mapping[str, Any], outdir: Path) -> Synth:
    app, stack = build_app(context=context, outdir=str(outdir))
    app.synth()
    return Synth(app, stack, Template.from_stack(stack), outdir)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(DEFAULT_CONTEXT, tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def prod_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(PROD_CONTEXT, tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session", params=["default", "prod"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    """Both variants, for what must hold in each."""
    synth: Synth = request.getfixturevalue(f"{request.param}_synth")
    return synth


def logical_id(synth: Synth, construct: Any) -> str:
    """The template's logical id of a construct (an L2's default CloudFormation child)."""
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    return str(synth.stack.resolve(synth.stack.get_logical_id(element)))
