"""Moto's DynamoDB backend behind a keep-alive HTTP server that counts requests.

Moto's own server (werkzeug) sends ``Connection: close`` on every response, so each request
would open a new connection and pay an extra emulated round trip that DynamoDB never
charges. This bridge hands each request to moto's WSGI app and answers with a
``Content-Length`` on a connection that stays open, as DynamoDB does.
"""

from __future__ import annotations

import io
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from .counters import Counters
from .responder import CONTROL_PREFIX, TARGET_PREFIX

__all__ = ["MotoServer"]


class MotoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.app = DomainDispatcherApplication(create_backend_app)
        self.counters = Counters()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without this, Nagle and delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server: MotoServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        """Silent: a line per request would cost more than some requests do."""

    def _send(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self) -> None:
        counters = self.server.counters
        if self.path.endswith("reset"):
            counters.reset()
        self._send(
            "200 OK",
            [("Content-Type", "application/json")],
            json.dumps(counters.snapshot()).encode(),
        )

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        return environ

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith(CONTROL_PREFIX):
            self._control()
            return
        operation = self.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        counters = self.server.counters
        counters.enter(operation)
        try:
            answer: dict[str, Any] = {}

            def start_response(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> None:
                answer["status"], answer["headers"] = status, headers

            chunks = self.server.app(self._environ(body), start_response)
            try:
                data = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
            self._send(answer["status"], answer["headers"], data)
        finally:
            counters.leave()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle
