"""Schemathesis against the running local stack: no 500s, every answer as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import clean_env, start_stack

pytestmark = pytest.mark.integration

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def test_every_response_matches_the_openapi_document(tmp_path: Path) -> None:
    with start_stack(tmp_path, "--sweep-every", "0", "--warm-every", "0") as stack:
        run = subprocess.run(  # noqa: S603 - the installed schemathesis CLI
            [
                SCHEMATHESIS,
                "run",
                f"{stack.api}/openapi.json",
                "--checks",
                CHECKS,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "25",
                "--seed",
                "20260101",
                "--workers",
                "1",
                "--header",
                "X-Dev-User: user-0001",
                "--report",
                "junit",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(),
            cwd=tmp_path,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "passed" in run.stdout
        statuses = stack.stderr()
        # The run reached the handlers (not only the router) with and without errors.
        assert "-> 200" in statuses and "-> 400" in statuses
        assert "-> 500" not in statuses
