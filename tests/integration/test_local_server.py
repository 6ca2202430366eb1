"""The local HTTP server's guards, over real HTTP: Host names, body size, backlog, idle
sockets, API Gateway's timeout (504), SIGTERM with a function still running, and the
development identity refused when the tables are not on this machine."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer

from fleetcli.local.banner import banner
from fleetcli.local.httpapi import LocalApi
from fleetcli.local.stack import LocalStack, StackOptions

from .conftest import Stack, port_open, run_fleet, start_stack

pytestmark = pytest.mark.integration

ME = {"X-Dev-User": "user-0001"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("server")
    flags = ("--sweep-every", "0", "--warm-every", "0", "--idle-timeout", "1")
    with start_stack(workdir, *flags) as running:
        yield running
        assert running.stop(signal.SIGTERM) == 0


def raw(stack: Stack, request: bytes, wait: float = 10) -> bytes:
    """Send ``request`` as it is; everything the server answers before closing."""
    host, port = stack.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=wait) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_only_loopback_host_names_are_answered(stack: Stack) -> None:
    port = stack.api.rsplit(":", 1)[1]
    url = f"{stack.api}/users/user-0001/devices"
    for host in (f"localhost:{port}", "localhost", f"127.0.0.1:{port}"):
        assert requests.get(url, headers={**ME, "Host": host}, timeout=10).status_code == 200
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}"):
        answer = requests.get(url, headers={**ME, "Host": host}, timeout=10)
        assert answer.status_code == 421, host
        assert answer.json()["error"]["code"] == "MisdirectedRequest"


def test_a_request_without_host_is_400(stack: Stack) -> None:
    answer = raw(stack, b"GET /openapi.json HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"MissingHost" in answer


def test_a_huge_content_length_is_413_at_once_without_reading_it(stack: Stack) -> None:
    # 100 GB announced, nothing sent: the answer comes without waiting for the body.
    request = (
        b"POST /devices/dev-00001/transfer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Dev-User: user-0001\r\nContent-Length: 100000000000\r\n\r\n"
    )
    answer = raw(stack, request)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"PayloadTooLarge" in answer


def test_an_idle_connection_is_closed_by_the_server(stack: Stack) -> None:
    host, port = stack.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"GET /openapi.json HTTP/1.1\r\n")  # and never the rest
        assert conn.recv(1024) == b""  # closed (the 30 s client timeout would raise)


def test_thirty_clients_at_once_get_no_reset(stack: Stack) -> None:
    def client(n: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.get(
                    f"{stack.api}/users/user-0002/devices",
                    headers={"X-Dev-User": "user-0002", "Connection": "close"},
                    timeout=60,
                ).status_code
                for _ in range(4)
            ]

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = [s for batch in pool.map(client, range(30)) for s in batch]
    assert statuses == [200] * 120


def test_the_docs_page_is_self_contained(stack: Stack) -> None:
    page = requests.get(f"{stack.api}/docs", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'fetch("openapi.json")' in page.text
    assert "https://" not in page.text and "<script src" not in page.text
    assert requests.get(f"{stack.api}/openapi.json", timeout=10).json()["paths"]


def test_a_non_loopback_host_needs_the_explicit_flag() -> None:
    refused = run_fleet("run", "--host", "0.0.0.0", "--port", "0", timeout=60)  # noqa: S104
    assert refused.returncode == 2
    assert "usage:" in refused.stderr
    assert "--allow-remote" in refused.stderr


class SlowProxy:
    """A TCP proxy to ``upstream`` that holds each client chunk ``delay`` seconds while
    ``slow`` is set: a DynamoDB that stops answering in time."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.slow = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, hold: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if hold and self.slow.is_set():
                    time.sleep(self.delay)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def slow_dynamodb() -> Iterator[SlowProxy]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    proxy = SlowProxy(server.get_host_and_port(), delay=5)
    try:
        yield proxy
    finally:
        proxy.close()
        server.stop()


def test_a_slow_function_is_504_and_sigterm_leaves_nothing_running(
    slow_dynamodb: SlowProxy, tmp_path: Path
) -> None:
    flags = ("--dynamodb-endpoint", slow_dynamodb.url, "--api-timeout", "1")
    with start_stack(tmp_path, *flags, "--sweep-every", "0", "--warm-every", "0") as running:
        url = f"{running.api}/users/user-0002/devices"
        headers = {"X-Dev-User": "user-0002"}
        # The first call imports the handler (a cold start): on a busy machine that alone
        # may pass the 1 s timeout and be a 504, so wait for a 200 before slowing down.
        statuses = []
        while 200 not in statuses[-1:]:
            assert len(statuses) < 20, statuses
            statuses.append(requests.get(url, headers=headers, timeout=10).status_code)
        slow_dynamodb.slow.set()
        late = requests.get(url, headers=headers, timeout=10)
        assert late.status_code == 504
        assert late.json()["error"]["code"] == "GatewayTimeout"
        # A function is still waiting on DynamoDB: SIGTERM ends it all the same.
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=10) == 0
        assert not port_open(running.api)
    assert "nothing left running" in running.stderr()
    assert "-> 504" in running.stderr()


def test_x_dev_user_is_refused_when_the_tables_are_not_local() -> None:
    api = LocalApi(("127.0.0.1", 0), [], "sub", dev_identity=False)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        refused = requests.get(f"{api.url}/users/user-0001/devices", headers=ME, timeout=10)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "DevIdentityRefused"
        anonymous = requests.get(f"{api.url}/users/user-0001/devices", timeout=10)
        assert anonymous.status_code == 404  # no route here: the header alone was refused
        stack = LocalStack(StackOptions())
        stack.api, stack.endpoint = api, "https://dynamodb.eu-west-1.amazonaws.com"
        text = banner(stack)
    finally:
        api.shutdown()
        api.server_close()
    assert "no AWS account" not in text
    assert "REAL DATA" in text
    assert "X-Dev-User is REFUSED" in text
    assert "AWS_ACCESS_KEY_ID=local" not in text


def _all_pages(api: str, user: str) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = requests.get(
            f"{api}/users/{user}/devices", headers={"X-Dev-User": user}, params=params, timeout=30
        )
        assert page.status_code == 200, page.text
        ids |= {d["deviceId"] for d in page.json()["devices"]}
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return ids


def test_racing_transfers_on_a_large_table_lose_no_write(tmp_path: Path) -> None:
    # 10,000 devices of one owner; 12 of them each claimed by two racing transfers while
    # another client keeps writing: the losers' rolled-back transactions must not undo
    # anything, and every answer comes before the stack's own 20 s gateway timeout.
    flags = ("--sweep-every", "0", "--warm-every", "0", "--api-timeout", "20")
    with start_stack(tmp_path, *flags) as running:
        batch = running.batch()
        owned = [f"big-{n:05d}" for n in range(10_000)]
        batch.put_items(
            "devices", [{"deviceId": d, "ownerId": "user-0100", "name": d} for d in owned]
        )
        batch.put_items("users", [{"userId": "user-0100", "name": "Big", "devices": set(owned)}])
        raced = owned[:12]

        def claim(job: tuple[str, str]) -> int:
            device, to = job
            return requests.post(
                f"{running.api}/devices/{device}/transfer",
                headers={"X-Dev-User": "user-0100", "Content-Type": "application/json"},
                data=json.dumps({"fromUserId": "user-0100", "toUserId": to}),
                timeout=60,
            ).status_code

        def keep_writing() -> None:
            for n in range(150):
                batch.put_items("sessions", [{"sessionId": f"race-{n}", "userId": "user-0100"}])

        jobs = [(d, to) for d in raced for to in ("user-0002", "user-0003")]
        writer = threading.Thread(target=keep_writing)
        writer.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(claim, jobs))
        writer.join()

        assert all(s in (200, 409) for s in statuses), statuses
        assert sorted(statuses).count(200) == len(raced)
        found = batch.get_items(
            {
                "devices": [{"deviceId": d} for d in raced],
                "users": [{"userId": u} for u in ("user-0002", "user-0003", "user-0100")],
            },
            consistent_read=True,
        ).items
        owners = {d["deviceId"]: d["ownerId"] for d in found["devices"]}
        assert set(owners.values()) <= {"user-0002", "user-0003"}
        assert len(owners) == len(raced)
        users = {u["userId"]: u for u in found["users"]}
        for device, owner in owners.items():
            assert device in users[owner]["devices"]
            assert device not in users["user-0100"]["devices"]
        assert len(users["user-0100"]["devices"]) == 10_000 - len(raced)
        written = batch.get_items({"sessions": [{"sessionId": f"race-{n}"} for n in range(150)]})
        assert len(written.items["sessions"]) == 150
        theirs = {d for d, owner in owners.items() if owner == "user-0002"}
        assert _all_pages(running.api, "user-0002") >= theirs


def test_concurrent_transfers_on_100000_devices_answer_before_the_gateway_timeout(
    tmp_path: Path,
) -> None:
    # Given the local stack with 100,000 devices: a giver owning 20,000 of them (its
    # `devices` set is about 220 KB), the rest spread over 800 other users
    flags = ("--sweep-every", "0", "--warm-every", "0", "--api-timeout", "20")
    with start_stack(tmp_path, *flags) as running:
        batch = running.batch()
        giver = [f"big-{n:05d}" for n in range(20_000)]
        others = {
            f"user-2{u:03d}": [f"oth-{u:03d}-{n:03d}" for n in range(100)] for u in range(800)
        }
        devices = ({"deviceId": d, "ownerId": "user-0100", "name": d} for d in giver)
        spread = (
            {"deviceId": d, "ownerId": owner, "name": d}
            for owner, ids in others.items()
            for d in ids
        )
        batch.put_items("devices", devices)
        batch.put_items("devices", spread)
        users = [{"userId": u, "name": u, "devices": set(ids)} for u, ids in others.items()]
        batch.put_items("users", [{"userId": "user-0100", "name": "Big", "devices": set(giver)}])
        batch.put_items("users", users)
        moved = {giver[n]: f"user-2{n:03d}" for n in range(16)}

        def transfer(device: str) -> int:
            return requests.post(
                f"{running.api}/devices/{device}/transfer",
                headers={"X-Dev-User": "user-0100", "Content-Type": "application/json"},
                data=json.dumps({"fromUserId": "user-0100", "toUserId": moved[device]}),
                timeout=60,
            ).status_code

        # When 16 transfers run, 8 at a time (the stated bound is the 20 s gateway timeout
        # set above: a slower answer is a 504)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(transfer, moved))

        # Then every one succeeded and the sets agree with the devices
        assert statuses == [200] * len(moved)
        found = batch.get_items(
            {"devices": [{"deviceId": d} for d in moved]}, consistent_read=True
        ).items["devices"]
        assert {d["deviceId"]: d["ownerId"] for d in found} == moved
        (big,) = batch.get_items({"users": [{"userId": "user-0100"}]}).items["users"]
        assert len(big["devices"]) == 20_000 - len(moved)


def test_the_listen_backlog_holds_a_burst_of_connections_before_any_is_accepted() -> None:
    # Given the server bound but busy (not accepting yet), as when every handler thread is
    # still being started
    api = LocalApi(("127.0.0.1", 0), [], "sub")
    sockets: list[socket.socket] = []
    try:
        # When 60 clients connect at once, then the kernel queues every one of them (a
        # backlog of 5 would leave all but about 6 unanswered and the connects time out)
        for _ in range(60):
            client = socket.create_connection(api.server_address[:2], timeout=2)
            sockets.append(client)
        assert len(sockets) == 60
    finally:
        for client in sockets:
            client.close()
        api.server_close()
