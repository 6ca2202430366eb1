"""cdk-nag acknowledgments: every suppressed finding names its rule and says why, in code."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

__all__ = ["acknowledge"]


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Suppress ``rule_id`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``construct``.

    cdk-nag 3 matches findings exactly: a rule that reports several findings on one
    resource needs one acknowledgment per finding.
    """
    if len(reason) < 20:
        raise ValueError(f"{rule_id}: a suppression needs a real reason, not {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
