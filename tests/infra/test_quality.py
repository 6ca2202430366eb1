"""The synthesized templates pass cfn-lint and cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from infra.nag import acknowledge
from tests.infra.conftest import Synth

#: Every finding the stack acknowledges, and where. Each carries its reason in code
#: (infra/functions.py, infra/api.py, infra/network.py); a new one must be added here on
#: purpose.
ACKNOWLEDGED = {
    "Functions/LoaderRole": {"AwsSolutions-IAM5[Resource::*]"},
    "Functions/TransferRole": {"AwsSolutions-IAM5[Resource::*]"},
    "Functions/WarmerRole": {"AwsSolutions-IAM5[Resource::*]"},
    "Functions/SweeperRole": {"AwsSolutions-IAM5[Resource::*]"},
    "Api/UserPool": {"AwsSolutions-COG2", "AwsSolutions-COG8"},
    "Network/PrefixListLookupRole": {"AwsSolutions-IAM5[Resource::*]"},
    # The distributed import (infra/bulkimport.py): bucket logging, and per table the
    # worker's VPC networking and the state machine's own prefixes and child executions.
    "BulkImport/Bucket": {"AwsSolutions-S1"},
    **{
        f"BulkImport/{t.capitalize()}WorkerRole": {"AwsSolutions-IAM5[Resource::*]"}
        for t in ("devices", "users", "sessions")
    },
    **{
        f"BulkImport/{t.capitalize()}StateMachineRole": {
            f"AwsSolutions-IAM5[Resource::<BulkImportBucketA1D4D14B.Arn>/imports/{t}/*]",
            f"AwsSolutions-IAM5[Resource::<BulkImportBucketA1D4D14B.Arn>/results/{t}/*]",
            "AwsSolutions-IAM5[Resource::arn:aws:states:eu-west-1:<AWS::AccountId>:execution:"
            f"DeviceFleet-dev-bulk-import-{t}/*]",
            "AwsSolutions-IAM5[Resource::*]",
        }
        for t in ("devices", "users", "sessions")
    },
}


def test_cfn_lint_finds_no_errors(any_synth: Synth) -> None:
    matches = lint_file(
        any_synth.template_file, config=ManualArgs(regions=[any_synth.stack.region])
    )
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_cdk_nag_reports_no_unacknowledged_finding(any_synth: Synth) -> None:
    report = AwsSolutionsChecks(any_synth.app).validate_scope(any_synth.stack)
    findings = [
        f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}"
        for v in report.violations
    ]
    assert findings == []
    assert report.success


def test_cdk_nag_is_live_an_unjustified_wildcard_is_reported() -> None:
    # Given a stack with a wildcard policy and no acknowledgment
    app = App()
    stack = Stack(app, "Canary")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["dynamodb:*"], resources=["*"]))

    # When the pack checks it, then the wildcards are findings
    report = AwsSolutionsChecks(app).validate_scope(stack)
    assert not report.success
    assert "AwsSolutions-IAM5[Action::dynamodb:*]" in {v.rule_name for v in report.violations}


def _acknowledged(synth: Synth) -> dict[str, set[str]]:
    """Construct path (below the stack) -> AwsSolutions rules acknowledged there."""
    prefix = f"/{synth.stack.stack_name}/"
    found: dict[str, set[str]] = {}
    for path, entries in synth.metadata().items():
        for entry in entries:
            if entry["type"] != "aws:cdk:acknowledged-rules":
                continue
            for rule, reason in entry["data"].items():
                if "AwsSolutions" in rule:
                    assert len(reason) >= 40, (path, rule, reason)
                    local = path.removeprefix(prefix)
                    found.setdefault(local, set()).add(rule.removeprefix("Annotation::"))
    return found


def test_every_acknowledgment_is_listed_and_gives_its_reason(default_synth: Synth) -> None:
    assert _acknowledged(default_synth) == ACKNOWLEDGED


def test_without_vpc_and_user_pool_nothing_is_acknowledged(prod_synth: Synth) -> None:
    assert _acknowledged(prod_synth) == {}


def test_a_suppression_without_a_reason_is_refused() -> None:
    app = App()
    stack = Stack(app, "Canary")
    with pytest.raises(ValueError, match="real reason"):
        acknowledge(stack, "AwsSolutions-IAM5[Resource::*]", "because")
