"""The lean wire's kept-alive connections, against a real socket.

Each failure a connection can meet ends as the botocore exception botocore's own session
raises for it (which the batch layer retries), or is handled where it is safe to: a
pooled connection the server closed is replaced and the request sent once more.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, HeadersDict
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import URLLib3Session
from dynabatch.connections import Exchange, KeepAlivePool, Waiter
from dynabatch.wire import WireClient


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.connections = 0
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        behaviour = self.server.behaviour
        if behaviour == "slow":
            time.sleep(0.5)
        answer = json.dumps({"echo": json.loads(body or b"{}")}).encode()
        self.send_response(200)
        if behaviour == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (answer[:5], answer[5:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(answer)))
        if behaviour == "close-header":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer)
        if behaviour == "drop-idle":
            # Says nothing, but closes the connection: the client finds out on reuse.
            self.close_connection = True

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    instance = _Server(getattr(request, "param", "keep-alive"))
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield instance
    instance.shutdown()
    instance.server_close()


def post(url: str, payload: dict[str, Any]) -> AWSPreparedRequest:
    body = json.dumps(payload).encode()
    headers = HeadersDict({"Content-Type": "application/json", "Content-Length": str(len(body))})
    return AWSPreparedRequest("POST", url + "/", headers, body, False, {})


def test_requests_share_one_kept_alive_connection(server: _Server) -> None:
    pool = KeepAlivePool(server.url)
    for n in range(5):
        response = pool.send(post(server.url, {"n": n}))
        assert response.status_code == 200 and json.loads(response.content) == {"echo": {"n": n}}
    assert server.connections == 1 and pool.opened == 1
    pool.close()


@pytest.mark.parametrize("server", ["drop-idle"], indirect=True)
def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_sent_again(
    server: _Server,
) -> None:
    pool = KeepAlivePool(server.url)
    for n in range(3):
        assert json.loads(pool.send(post(server.url, {"n": n})).content) == {"echo": {"n": n}}
    assert server.requests == 3 and pool.opened == 3


@pytest.mark.parametrize("server", ["close-header"], indirect=True)
def test_connection_close_is_obeyed(server: _Server) -> None:
    pool = KeepAlivePool(server.url)
    pool.send(post(server.url, {}))
    pool.send(post(server.url, {}))
    assert pool.opened == 2 and pool._idle == []


@pytest.mark.parametrize("server", ["chunked"], indirect=True)
def test_a_chunked_body_is_read_whole(server: _Server) -> None:
    pool = KeepAlivePool(server.url)
    assert json.loads(pool.send(post(server.url, {"a": "b" * 50})).content) == {
        "echo": {"a": "b" * 50}
    }


@pytest.mark.parametrize("server", ["slow"], indirect=True)
def test_a_slow_answer_is_botocores_read_timeout(server: _Server) -> None:
    pool = KeepAlivePool(server.url, timeout=(5, 0.1))
    with pytest.raises(ReadTimeoutError):
        pool.send(post(server.url, {}))
    assert pool._idle == []  # a connection in an unknown state is never reused


def test_a_refused_connection_is_botocores_endpoint_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(EndpointConnectionError):
        KeepAlivePool(url).send(post(url, {}))


def test_a_connect_timeout_is_botocores() -> None:
    # A listener whose backlog is full drops further SYNs: the connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = [socket.socket() for _ in range(2)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(address)
    url = f"http://127.0.0.1:{address[1]}"
    started = time.monotonic()
    try:
        with pytest.raises(ConnectTimeoutError):
            KeepAlivePool(url, timeout=(0.3, 5)).send(post(url, {}))
    finally:
        for sock in [*fillers, listener]:
            sock.close()
    assert time.monotonic() - started < 3  # the connect timeout, not the read timeout


def test_a_connection_dropped_mid_answer_is_botocores_connection_closed() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def half_answer() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        connection.close()

    thread = threading.Thread(target=half_answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConnectionClosedError):
            KeepAlivePool(url).send(post(url, {}))
    finally:
        thread.join(5)
        listener.close()


def test_the_pool_keeps_at_most_its_size_under_concurrency(server: _Server) -> None:
    pool = KeepAlivePool(server.url, max_size=4)
    errors: list[BaseException] = []

    def calls() -> None:
        try:
            for _ in range(10):
                pool.send(post(server.url, {}))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and server.requests == 80
    assert len(pool._idle) <= 4


def test_requests_for_another_origin_are_refused(server: _Server) -> None:
    with pytest.raises(ValueError, match="not on"):
        KeepAlivePool(server.url).send(post("http://example.com", {}))


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, KeepAlivePool),
        ({"HTTPS_PROXY": "http://proxy.internal:3128"}, URLLib3Session),
        (
            {
                "HTTPS_PROXY": "http://proxy.internal:3128",
                "NO_PROXY": "dynamodb.eu-west-1.amazonaws.com",
            },
            KeepAlivePool,
        ),
    ],
)
def test_a_proxy_sends_through_botocores_own_session(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: type
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("dynamodb", region_name="eu-west-1")
    assert isinstance(WireClient(client).http_session, expected)
    configured = boto3.client(
        "dynamodb", region_name="eu-west-1", config=Config(proxies={"https": "http://p:1"})
    )
    assert isinstance(WireClient(configured).http_session, URLLib3Session)


def test_the_clients_connection_settings_reach_the_pool() -> None:
    client = boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        config=Config(connect_timeout=3, read_timeout=7, tcp_keepalive=True),
    )
    pool = WireClient(client, max_pool_connections=24, verify=False).http_session
    assert isinstance(pool, KeepAlivePool)
    assert (pool.connect_timeout, pool.read_timeout, pool.max_size) == (3, 7, 24)
    assert pool.tcp_keepalive and pool.origin == "https://dynamodb.eu-west-1.amazonaws.com"


# -- many exchanges on one thread, TLS -------------------------------------------------


@pytest.mark.parametrize("server", ["slow"], indirect=True)
def test_one_thread_keeps_many_exchanges_in_flight(server: _Server) -> None:
    # Eight requests the server answers after 0.5 s each: a waiter on one thread has them
    # all on the wire at once, each on its own connection, and every answer comes back.
    pool = KeepAlivePool(server.url, max_size=8)
    waiter = Waiter()
    exchanges = [pool.start(post(server.url, {"n": n})) for n in range(8)]
    for exchange in exchanges:
        waiter.add(exchange)
    ended: list[Exchange] = []
    while len(ended) < 8:
        ended.extend(waiter.wait(None))
    waiter.close()
    assert [json.loads(e.result().content) for e in exchanges] == [
        {"echo": {"n": n}} for n in range(8)
    ]
    assert server.connections == 8 and len(pool._idle) == 8


def test_an_answer_that_arrives_in_pieces_is_put_together() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    body = b'{"a": "' + b"x" * 300_000 + b'"}'
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Thing: 1\r\n\r\n"
    wire = head + b"".join(
        b"%x\r\n%s\r\n" % (len(piece), piece)
        for piece in (body[i : i + 70_000] for i in range(0, len(body), 70_000))
    )
    wire += b"0\r\nX-Trailer: yes\r\n\r\n"

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        for start in range(0, len(wire), 7_777):  # cuts through heads, sizes and CRLFs
            connection.sendall(wire[start : start + 7_777])
            time.sleep(0.001)
        connection.recv(1)  # the client keeps it open (kept alive) until the pool closes
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    pool = KeepAlivePool(url)
    try:
        response = pool.send(post(url, {}))
        assert response.content == body and response.headers["x-thing"] == "1"
        assert len(pool._idle) == 1
    finally:
        pool.close()
        thread.join(5)
        listener.close()


def _certificate(directory: Any) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (certificate path, key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_server(tmp_path: Any) -> Iterator[tuple[_Server, str]]:
    import ssl

    cert, key = _certificate(tmp_path)
    instance = _Server("keep-alive")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    instance.socket = context.wrap_socket(instance.socket, server_side=True)
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield instance, cert
    instance.shutdown()
    instance.server_close()


def test_tls_is_verified_against_the_given_bundle_and_carries_large_bodies(
    tls_server: tuple[_Server, str],
) -> None:
    server, cert = tls_server
    url = server.url.replace("http://", "https://")
    pool = KeepAlivePool(url, verify=cert)
    large = {"blob": "y" * 3_000_000}  # many TLS records each way
    assert json.loads(pool.send(post(url, large)).content) == {"echo": large}
    assert json.loads(pool.send(post(url, {"n": 2})).content) == {"echo": {"n": 2}}
    assert server.connections == 1 and pool.opened == 1  # kept alive over TLS
    pool.close()
    with pytest.raises(EndpointConnectionError):  # not signed by a CA we trust
        KeepAlivePool(url).send(post(url, {}))
