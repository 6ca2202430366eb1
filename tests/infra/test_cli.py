"""The real CDK CLI, as a platform engineer runs it: no AWS credentials, no Docker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra.constants import REPO_ROOT

CDK_BIN = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def _ensure_cli() -> None:
    """node_modules is a build output: install the pinned CLI the way `make synth` does."""
    if not CDK_BIN.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the CDK CLI"
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=REPO_ROOT,
            check=True,
            timeout=300,
        )


def test_cdk_synth_through_the_cli_needs_no_aws_account(tmp_path: Path) -> None:
    # Given the pinned CLI, the venv's python first on PATH, and no AWS settings at all
    _ensure_cli()
    npx = shutil.which("npx")
    assert npx, "npx comes with npm"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)  # no ~/.aws either
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    out = tmp_path / "cdk.out"

    # When it synthesizes the prod variant without a cache
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            str(CDK_BIN),
            "synth",
            "--quiet",
            "--output",
            str(out),
            "-c",
            "stage=prod",
            "-c",
            "cache=none",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then it succeeds and writes the stack's template
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((out / "DeviceFleet-prod.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    # The four functions, and a bulk writer per table of the distributed import (on by default)
    assert types.count("AWS::Lambda::Function") == 4 + 3
    assert types.count("AWS::StepFunctions::StateMachine") == 3
    assert types.count("AWS::DynamoDB::Table") == 4
    assert "AWS::ElastiCache::ServerlessCache" not in types
    # The CLI saw the same stack the tests build in-process: the region came from code.
    assert template["Outputs"]["ApiUrl"]["Value"]["Fn::Join"][1][2] == ".execute-api.us-east-1."
