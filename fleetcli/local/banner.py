"""What ``fleet run`` prints: where everything is, which data it touches, what to paste.

Every command printed works pasted into a shell on this machine, from any directory,
with nothing activated and no AWS settings: ``fleet`` and ``python`` are named by their
full path in this installation, and commands for a local endpoint carry the dummy
credentials it needs. The README's sample runs the same sequence (the same
``Idempotency-Key`` and body), so running both in either order answers 200.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from fleetcli.env import table_name

from .httpapi import LOOPBACK_HOSTS
from .stack import LocalStack

__all__ = ["banner", "commands", "DEMO_IDEMPOTENCY_KEY"]

#: The Idempotency-Key of the sample transfer, in the banner and the README alike.
DEMO_IDEMPOTENCY_KEY = "demo-transfer-1"
_DUMMY = "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local"


def _program(name: str) -> str:
    """``name`` beside this Python (the venv's bin), quoted for a shell."""
    path = Path(sys.executable).with_name(name)
    return shlex.quote(str(path)) if path.exists() else name


def account_of(stack: LocalStack) -> str:
    """Which account the tables are in, for the banner."""
    if stack.local_tables:
        return "local tables on this machine, no AWS account involved"
    try:
        sts = boto3.session.Session().client(
            "sts", config=Config(connect_timeout=3, read_timeout=3, retries={"max_attempts": 1})
        )
        return f"AWS account {sts.get_caller_identity()['Account']}: REAL DATA"
    except Exception as error:  # no credentials, no network: say so, do not guess
        return f"AWS account unknown ({type(error).__name__}): REAL DATA"


def commands(stack: LocalStack, region: str) -> list[str]:
    """The commands the banner prints, each one line (a shell pastes them as they are)."""
    assert stack.api is not None
    api, ddb = stack.api.url, stack.endpoint
    devices = table_name("devices")
    creds = f"{_DUMMY} " if stack.local_tables else ""
    keys = ', aws_access_key_id="local", aws_secret_access_key="local"'
    boto_creds = keys if stack.local_tables else ""
    python = (
        'import boto3; print(boto3.client("dynamodb", '
        f'endpoint_url="{ddb}", region_name="{region}"{boto_creds})'
        '.list_tables()["TableNames"])'
    )
    body = '{"fromUserId": "user-0001", "toUserId": "user-0002"}'
    aws = (
        f"{creds}AWS_DEFAULT_REGION={region} aws dynamodb scan --table-name {devices}"
        f" --max-items 5 --endpoint-url {ddb}"
    )
    printed = [
        f"curl -i -H 'X-Dev-User: user-0001'"
        f" '{api}/users/user-0001/devices?limit=5&fields=name,state'",
        "curl -i -X POST -H 'X-Dev-User: user-0001' -H 'Content-Type: application/json'"
        f" -H 'Idempotency-Key: {DEMO_IDEMPOTENCY_KEY}' -d '{body}'"
        f" {api}/devices/dev-00001/transfer",
        f"{_program('python')} -c {shlex.quote(python)}",
        f"{creds}AWS_DEFAULT_REGION={region} {_program('fleet')} export {devices}"
        f" {devices}.jsonl --endpoint-url {ddb}",
    ]
    # Only what works when pasted here: the AWS CLI line when the AWS CLI is installed.
    return printed[:2] + ([aws] if shutil.which("aws") else []) + printed[2:]


def banner(stack: LocalStack, extra: dict[str, Any] | None = None) -> str:
    """The whole banner."""
    assert stack.api is not None
    api, ddb = stack.api.url, stack.endpoint
    region = boto3.session.Session().region_name or "us-east-1"
    opts = stack.options
    kind = (
        "embedded moto server"
        if stack.moto is not None
        else ("given with --dynamodb-endpoint" if stack.local_tables else "NOT on this machine")
    )
    every = ", ".join(
        f"{name} every {seconds:g} s" if seconds else f"{name} off"
        for name, seconds in (("sweeper", opts.sweep_every), ("warmer", opts.warm_every))
    )
    account = account_of(stack)
    headline = (
        "Device Fleet: local stack running (development only: local tables, no AWS account)"
        if stack.local_tables
        else f"Device Fleet: local server running against {account}"
    )
    lines = [headline, ""]
    if opts.host not in LOOPBACK_HOSTS:
        lines += [
            f"  !!! LISTENING ON {opts.host}: other machines can reach this development server",
            "  !!! (--allow-remote); it has no authentication but X-Dev-User.",
            "",
        ]
    lines += [
        f"  HTTP API   {api}   (API docs: {api}/docs, OpenAPI: {api}/openapi.json)",
        f"  DynamoDB   {ddb}   ({kind}, region {region}; {account})",
        f"  cache      {opts.cache_url}",
        f"  schedules  {every}",
        f"  functions  HTTP ones take turns, scheduled ones up to {opts.concurrency} at once; "
        f"API timeout {opts.api_timeout:g} s (504)",
    ]
    if stack.restored:
        restored = ", ".join(f"{t} {n}" for t, n in stack.restored.items())
        lines.append(f"  state      restored from {opts.state_dir}: {restored} items")
    elif opts.state_dir is not None:
        lines.append(f"  state      saved to {opts.state_dir} when stopped")
    if not stack.api.dev_identity:
        lines += [
            "",
            "X-Dev-User is REFUSED (403): the tables are not on this machine",
            "(--allow-dev-identity-remote honours it anyway).",
        ]
    pasted = commands(stack, region)
    lines += [
        "",
        "Try the API. X-Dev-User is a DEVELOPMENT identity: only this local server honours it,",
        "in place of the JWT the deployed API requires; answers to it carry "
        "X-Dev-Identity: development.",
        "",
        *(f"  {c}" for c in pasted[:2]),
        "",
        "Inspect the tables (devices, users, sessions, idempotency):",
        "",
        *(f"  {c}" for c in pasted[2:]),
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)
