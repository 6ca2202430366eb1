"""`fleet run` as a user meets it: a subprocess on free ports, answered over real HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import Stack, port_open, run_fleet, start_stack

pytestmark = pytest.mark.integration

ME = {"X-Dev-User": "user-0001"}
OPENAPI = Path(__file__).resolve().parents[2] / "lambdas" / "fleet" / "openapi.json"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Schedules off: the tests below decide when the sweeper runs.
    workdir = tmp_path_factory.mktemp("stack")
    with start_stack(workdir, "--sweep-every", "0", "--warm-every", "0") as running:
        yield running
        assert running.stop(signal.SIGTERM) == 0


def get_list(stack: Stack, user: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return requests.get(
        f"{stack.api}/users/{user}/devices", headers=headers or ME, params=params, timeout=10
    )


def transfer(stack: Stack, device: str, body: Any, user: str = "user-0001", key: str = "") -> Any:
    headers = {"X-Dev-User": user, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    data = body if isinstance(body, str) else json.dumps(body)
    return requests.post(
        f"{stack.api}/devices/{device}/transfer", headers=headers, data=data, timeout=10
    )


def all_devices(stack: Stack, user: str) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        page = get_list(stack, user, {"X-Dev-User": user}, **params)
        assert page.status_code == 200, page.text
        devices += page.json()["devices"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return devices


def test_the_banner_gives_curl_commands_with_the_development_identity(stack: Stack) -> None:
    text = stack.out.read_text()
    assert f"curl -i -H 'X-Dev-User: user-0001' '{stack.api}/users/user-0001/devices" in text
    assert "DEVELOPMENT identity" in text
    assert "no AWS account" in text
    assert f"export devices devices.jsonl --endpoint-url {stack.dynamodb}" in text


def pasted(command: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` run by a shell as a user pastes it: a bare environment (PATH only, a
    HOME without ~/.aws), so nothing may rely on an activated venv or AWS settings."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.run(  # noqa: S603 - the printed command, as a user pastes it
        ["/bin/bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=cwd,
    )


def banner_commands(stack: Stack) -> list[str]:
    lines = stack.out.read_text().splitlines()
    return [
        line.strip()
        for line in lines
        if line.startswith("  ") and line.strip().startswith(("curl ", "AWS_", "/", "'/"))
    ]


def test_every_printed_command_works_as_pasted(stack: Stack, tmp_path: Path) -> None:
    commands = banner_commands(stack)
    # The AWS CLI line is printed only where the AWS CLI is installed (pasted, it works).
    has_aws = shutil.which("aws") is not None
    assert len(commands) == (5 if has_aws else 4), commands
    assert any(" aws dynamodb scan " in c for c in commands) == has_aws
    curl_list, curl_transfer = commands[:2]
    python, export = commands[-2:]
    for command in (curl_list, curl_transfer):
        shown = pasted(command, tmp_path, tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("HTTP/1.1 200"), shown.stdout
        assert "X-Dev-Identity: development" in shown.stdout
    # The same transfer again (as the README's sample is): the same answer, not a 409.
    again = pasted(curl_transfer, tmp_path, tmp_path)
    assert again.stdout.startswith("HTTP/1.1 200"), again.stdout
    if has_aws:
        scanned = pasted(commands[2], tmp_path, tmp_path)
        assert scanned.returncode == 0, scanned.stderr
        assert len(json.loads(scanned.stdout)["Items"]) == 5
    listed = pasted(python, tmp_path, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "'devices'" in listed.stdout and "'idempotency'" in listed.stdout
    exported = pasted(export, tmp_path, tmp_path)
    assert exported.returncode == 0, exported.stderr
    rows = (tmp_path / "devices.jsonl").read_text().splitlines()
    assert len(rows) >= 300


def readme_commands() -> list[str]:
    """The second code block of the README's "Run it locally": what to paste."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Run it locally") :]
    block = section.split("```")[3]
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def test_the_readme_sample_works_as_pasted_after_the_banners(stack: Stack, tmp_path: Path) -> None:
    commands = readme_commands()
    assert any("Idempotency-Key: demo-transfer-1" in c for c in commands)
    port = stack.api.rsplit(":", 1)[1]
    ddb_port = stack.dynamodb.rsplit(":", 1)[1]
    bin_dir = f"{Path(sys.executable).parent}/"
    for command in commands:
        local = (
            command.replace("127.0.0.1:3000", f"127.0.0.1:{port}")
            .replace("127.0.0.1:8000", f"127.0.0.1:{ddb_port}")
            .replace(".venv/bin/", bin_dir)
        )
        shown = pasted(local, tmp_path, tmp_path)
        if " aws " in local and shutil.which("aws") is None:
            # The README's AWS CLI sample needs the AWS CLI: the only failure allowed.
            assert shown.returncode == 127 and "aws: command not found" in shown.stderr
            continue
        assert shown.returncode == 0, (local, shown.stderr)
        if local.startswith("curl"):
            assert shown.stdout.startswith("HTTP/1.1 200"), (local, shown.stdout)


def test_demo_user_lists_all_fifty_devices_page_by_page(stack: Stack) -> None:
    first = get_list(stack, "user-0001", limit=20)
    assert first.headers["X-Dev-Identity"] == "development"
    assert first.json()["count"] == 20
    devices = all_devices(stack, "user-0001")
    ids = {d["deviceId"] for d in devices}
    # Other tests (the banner's curl, the transfer test) may have moved one device each.
    assert len(devices) == len(ids) >= 48
    assert {d["ownerId"] for d in devices} == {"user-0001"}


def test_fields_returns_only_the_asked_attributes(stack: Stack) -> None:
    answer = get_list(stack, "user-0002", {"X-Dev-User": "user-0002"}, fields="name,state")
    assert answer.status_code == 200
    assert answer.json()["devices"]
    for device in answer.json()["devices"]:
        assert set(device) <= {"deviceId", "name", "state"}
        assert "name" in device


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "InvalidLimit"),
        ({"limit": "101"}, "InvalidLimit"),
        ({"limit": "ten"}, "InvalidLimit"),
        ({"fields": "name,bad field!"}, "InvalidFields"),
        ({"cursor": "not-a-cursor"}, "InvalidCursor"),
    ],
)
def test_bad_list_parameters_are_400_with_a_code(stack: Stack, params: Any, code: str) -> None:
    answer = get_list(stack, "user-0001", **params)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


def test_no_identity_is_401(stack: Stack) -> None:
    answer = requests.get(f"{stack.api}/users/user-0001/devices", timeout=10)
    assert answer.status_code == 401
    assert "X-Dev-Identity" not in answer.headers
    assert answer.json()["error"]["code"] == "Unauthorized"


def test_another_users_list_is_403(stack: Stack) -> None:
    answer = get_list(stack, "user-0002")
    assert answer.status_code == 403
    assert set(answer.json()["error"]) == {"code", "message"}


def test_unknown_user_is_404(stack: Stack) -> None:
    answer = get_list(stack, "user-9999", {"X-Dev-User": "user-9999"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "UserNotFound"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("DELETE", "/users/user-0001/devices"), ("GET", "/devices/d/transfer")],
)
def test_unknown_routes_are_404_json(stack: Stack, method: str, path: str) -> None:
    answer = requests.request(method, f"{stack.api}{path}", headers=ME, timeout=10)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "RouteNotFound"


def test_transfer_then_list_shows_the_new_owner(stack: Stack) -> None:
    body = {"fromUserId": "user-0001", "toUserId": "user-0003"}
    moved = transfer(stack, "dev-00050", body, key="move-50")
    assert moved.status_code == 200, moved.text
    expected = {"deviceId": "dev-00050", "ownerId": "user-0003", "previousOwnerId": "user-0001"}
    assert moved.json() == expected
    theirs = {d["deviceId"]: d for d in all_devices(stack, "user-0003")}
    assert theirs["dev-00050"]["ownerId"] == "user-0003"
    assert "dev-00050" not in {d["deviceId"] for d in all_devices(stack, "user-0001")}
    # The same key and body: the first result again, not a 409.
    replay = transfer(stack, "dev-00050", body, key="move-50")
    assert (replay.status_code, replay.json()) == (200, expected)
    other = transfer(stack, "dev-00049", body, key="move-50")
    assert other.status_code == 422


@pytest.mark.parametrize(
    ("device", "body", "caller", "status", "code"),
    [
        ("dev-00001", "{not json", "user-0001", 400, "InvalidJson"),
        ("dev-00001", {"fromUserId": "user-0001"}, "user-0001", 400, "MissingField"),
        (
            "dev-00001",
            {"fromUserId": "user-0001", "toUserId": "user-0001"},
            "user-0001",
            400,
            "SameOwner",
        ),
        (
            "dev-00001",
            {"fromUserId": "user-0001", "toUserId": "user-0002"},
            "user-0002",
            403,
            "NotYourDevice",
        ),
        (
            "dev-99999",  # no such device: a non-owner is not told it does not exist
            {"fromUserId": "user-0001", "toUserId": "user-0002"},
            "user-0001",
            409,
            "NotOwner",
        ),
        (
            "dev-00002",
            {"fromUserId": "user-0001", "toUserId": "user-9999"},
            "user-0001",
            404,
            "UserNotFound",
        ),
        (
            "dev-00051",
            {"fromUserId": "user-0001", "toUserId": "user-0003"},
            "user-0001",
            409,
            "NotOwner",
        ),
    ],
)
def test_transfer_errors(
    stack: Stack, device: str, body: Any, caller: str, status: int, code: str
) -> None:
    answer = transfer(stack, device, body, user=caller)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


def test_transfer_without_identity_is_401(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.api}/devices/dev-00001/transfer",
        json={"fromUserId": "user-0001", "toUserId": "user-0002"},
        timeout=10,
    )
    assert answer.status_code == 401


def test_openapi_document_is_served(stack: Stack) -> None:
    served = requests.get(f"{stack.api}/openapi.json", timeout=10).json()
    kept = json.loads(OPENAPI.read_text())
    assert served["servers"] == [{"url": stack.api, "description": "local stack"}]
    assert {**served, "servers": kept["servers"]} == kept


def expired_sessions(stack: Stack) -> tuple[int, int]:
    now = time.time()
    sessions = list(stack.batch().scan("sessions"))
    expired = sum(1 for s in sessions if s["expiresAt"] <= now)
    return expired, len(sessions) - expired


def test_fleet_sweep_deletes_expired_sessions_only(stack: Stack) -> None:
    expired, live = expired_sessions(stack)
    assert expired == 40 and live == 80
    swept = run_fleet("sweep", "--endpoint-url", stack.dynamodb, "--output", "json")
    assert swept.returncode == 0, swept.stderr
    report = json.loads(swept.stdout)
    assert (report["command"], report["status"], report["exit_code"]) == ("sweep", "ok", 0)
    assert report["result"]["deleted"] == 40
    assert expired_sessions(stack) == (0, 80)
    again = run_fleet("sweep", "--endpoint-url", stack.dynamodb)
    assert again.stdout.startswith("sweep: deleted 0,"), again.stdout
    # The API is unaffected by the sweep.
    assert get_list(stack, "user-0002", {"X-Dev-User": "user-0002"}).status_code == 200


def test_fleet_warm_reports_the_devices_it_cached(stack: Stack) -> None:
    warmed = run_fleet(
        "warm",
        "--device-id",
        "dev-00001",
        "--device-id",
        "dev-00002",
        "--endpoint-url",
        stack.dynamodb,
        "--output",
        "json",
    )
    assert warmed.returncode == 0, warmed.stderr
    report = json.loads(warmed.stdout)
    assert report["result"]["warmed"] == 2
    # memory:// lives in that command's own process: it says the warmed cache is gone.
    assert "memory:// is this command's own cache" in warmed.stderr


def test_fleet_warm_with_conflicting_flags_is_usage_exit_2(stack: Stack) -> None:
    flags = ("--device-id", "dev-00001", "--user-id", "user-0001")
    both = run_fleet("warm", *flags, "--endpoint-url", stack.dynamodb)
    assert both.returncode == 2
    assert "usage:" in both.stderr
    assert "not allowed with argument" in both.stderr
    assert both.stdout == ""


def test_the_schedule_sweeps_on_its_own_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    with start_stack(tmp_path, "--sweep-every", "1", "--warm-every", "1") as running:
        deadline = time.monotonic() + 30
        while not re.search(r"\[schedule\] sweeper: \{\"deleted\": 40", running.stderr()):
            assert time.monotonic() < deadline, running.stderr()
            time.sleep(0.2)
        assert expired_sessions(running) == (0, 80)
        assert "[schedule] warmer:" in running.stderr() or _wait_for(running, "[schedule] warmer:")
        assert running.stop(signal.SIGINT) == 0
    assert "nothing left running" in running.stderr()


def _wait_for(stack: Stack, text: str, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while text not in stack.stderr():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_another_dynamodb_endpoint_is_used_and_left_running(dynamodb: str, tmp_path: Path) -> None:
    with start_stack(tmp_path, "--dynamodb-endpoint", dynamodb, "--sweep-every", "0") as running:
        assert running.dynamodb == dynamodb
        assert "given with --dynamodb-endpoint" in running.out.read_text()
        answer = get_list(running, "user-0002", {"X-Dev-User": "user-0002"})
        assert answer.status_code == 200
        assert answer.json()["count"] == 3
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=30) == 0
    assert not port_open(running.api)
    assert port_open(dynamodb)  # not ours to stop


def test_a_port_in_use_fails_fast_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_fleet("run", "--port", port, "--dynamodb-port", "0", timeout=60)
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
    assert "--port" in result.stderr


def raw_request(stack: Stack, request: bytes) -> str:
    host, port = stack.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received.decode()


def test_a_chunked_body_reaches_the_function(stack: Stack) -> None:
    body = b'{"fromUserId": "user-0001", "toUserId": "user-0001"}'
    request = (
        b"POST /devices/dev-00003/transfer HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Dev-User: user-0001\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    answer = raw_request(stack, request)
    assert answer.startswith("HTTP/1.1 400")
    assert '"SameOwner"' in answer  # the function read the body: the same user twice


def test_a_bad_content_length_is_400_json(stack: Stack) -> None:
    request = (
        b"POST /devices/dev-00003/transfer HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Dev-User: user-0001\r\n"
        b"Content-Length: lots\r\n\r\n{}"
    )
    answer = raw_request(stack, request)
    assert answer.startswith("HTTP/1.1 400")
    assert '"error"' in answer


def test_a_body_over_16_kb_is_413(stack: Stack) -> None:
    body = {"fromUserId": "user-0001", "toUserId": "user-0002", "pad": "x" * 17_000}
    answer = transfer(stack, "dev-00004", body)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PayloadTooLarge"


def test_a_malformed_idempotency_key_is_400(stack: Stack) -> None:
    body = {"fromUserId": "user-0001", "toUserId": "user-0002"}
    answer = transfer(stack, "dev-00004", body, key="has spaces in it")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidIdempotencyKey"
    still_mine = get_list(stack, "user-0001", fields="name")
    assert "dev-00004" in {d["deviceId"] for d in still_mine.json()["devices"]}
