"""The local HTTP API: each request becomes an API Gateway HTTP API payload 2.0 event.

What API Gateway does in front of the deployed functions is done here, and nothing else:
match the route, build the event (lower-cased headers, query parameters joined with
commas, path parameters, base64 for binary bodies, ``requestContext``), put the JWT
authorizer's claims in it, invoke the function, and turn its result into the response.

The one difference is identity. There is no JWT locally: the ``X-Dev-User`` header
becomes the caller claim, and every response to such a request carries
``X-Dev-Identity: development`` so nobody mistakes it for an authenticated call. Only
this server honours that header; the deployed API ignores it. When the tables are not on
this machine, the header is refused (403) unless the server was told otherwise.

What keeps it a development server: it answers only requests whose ``Host`` is this
machine's loopback name (a web page reaching it through DNS rebinding names its own host:
421), refuses a body over API Gateway's 10 MB at once (413, nothing read), drops a
connection idle for :data:`SOCKET_TIMEOUT` seconds, and answers 504 when a function takes
longer than API Gateway's 30 s integration timeout.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .invoke import LOCAL_ACCOUNT, InvocationTimeout, LocalFunction

__all__ = [
    "DEV_USER_HEADER",
    "DEV_IDENTITY_HEADER",
    "LOOPBACK_HOSTS",
    "MAX_BODY_BYTES",
    "GATEWAY_TIMEOUT",
    "Route",
    "LocalApi",
    "build_event",
]

DEV_USER_HEADER = "x-dev-user"
DEV_IDENTITY_HEADER = "X-Dev-Identity"
API_ID = "local"
#: Host names this server answers to (with any port); others get 421.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: API Gateway HTTP API's payload limit: a bigger body is refused before it is read.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: API Gateway's integration timeout (seconds): a slower function's caller gets 504.
GATEWAY_TIMEOUT = 30.0
#: An idle or trickling client is dropped after this many seconds.
SOCKET_TIMEOUT = 60.0
#: Pending connections the kernel keeps (the default 5 reset clients under a burst).
LISTEN_BACKLOG = 128
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form")
logger = logging.getLogger("fleet.local.api")


class Route:
    """``METHOD /path/{param}``: the route key, its matcher and the function behind it."""

    def __init__(self, method: str, template: str, function: LocalFunction) -> None:
        self.method, self.template, self.function = method, template, function
        self.key = f"{method} {template}"
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self._pattern = re.compile(f"^{pattern}$")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters (URL-decoded) when ``method`` and ``path`` are this route's."""
        found = self._pattern.match(path)
        if method != self.method or found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def build_event(
    route: Route,
    params: dict[str, str],
    method: str,
    raw_target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    claims: dict[str, str] | None,
    source_ip: str,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway would send for this request."""
    parts = urlsplit(raw_target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[lower] = f"{merged[lower]},{value}" if lower in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": API_ID,
            "domainName": merged.get("host", "127.0.0.1"),
            "domainPrefix": merged.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "pathParameters": params,
        "isBase64Encoded": False,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        _put_body(event, body, merged.get("content-type", ""))
    return event


def _put_body(event: dict[str, Any], body: bytes, content_type: str) -> None:
    if content_type.startswith(_TEXT_TYPES) or not content_type:
        try:
            event["body"] = body.decode("utf-8")
            return
        except UnicodeDecodeError:
            pass
    event["body"] = base64.b64encode(body).decode("ascii")
    event["isBase64Encoded"] = True


def error_body(status: int, code: str, message: str) -> bytes:
    """The project's error shape, for answers the API itself gives (no function ran)."""
    del status
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class LocalApi(ThreadingHTTPServer):
    """A threaded HTTP server that answers the API's routes through the functions.

    ``dev_identity``: honour ``X-Dev-User`` (else 403). ``hosts``: extra ``Host`` names to
    answer besides the loopback ones (for an explicitly opted-in non-loopback bind).
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        routes: list[Route],
        caller_claim: str,
        extra: dict[str, Callable[[], tuple[int, str, bytes]]] | None = None,
        *,
        dev_identity: bool = True,
        hosts: frozenset[str] = frozenset(),
        gateway_timeout: float = GATEWAY_TIMEOUT,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        self.routes, self.caller_claim, self.extra = routes, caller_claim, extra or {}
        self.dev_identity, self.gateway_timeout = dev_identity, gateway_timeout
        self.socket_timeout = socket_timeout
        self.hosts = LOOPBACK_HOSTS | {h.lower() for h in hosts}
        super().__init__(address, _Handler)

    def host_allowed(self, host: str) -> bool:
        """``Host`` names this server (with or without a port)."""
        name = host.strip().lower()
        if name.startswith("["):  # [::1]:3000
            name = name[: name.find("]") + 1]
        elif ":" in name:
            name = name.rsplit(":", 1)[0]
        return name in self.hosts

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (the real port when 0 was asked for)."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: LocalApi
    protocol_version = "HTTP/1.1"
    server_version = "fleet-local"

    def setup(self) -> None:
        # StreamRequestHandler puts ``timeout`` on the socket: reads and writes give up.
        self.timeout = self.server.socket_timeout or None  # type: ignore[misc]  # 0: no limit
        super().setup()

    def __getattr__(self, name: str) -> Any:
        # The base class looks up do_<METHOD>: every method gets an answer (a 404 JSON
        # error for those no route has, as API Gateway gives), never a bare 501 page.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        del format, args  # one line per request is written by _answer instead

    def _answer(self) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path
        user = self.headers.get(DEV_USER_HEADER)
        refused = self._refusal(user)
        if refused is not None:
            # Nothing of the body is read: the connection cannot be reused.
            self.close_connection = True
            status, headers, payload = refused
        else:
            body = self._body()
            if body is None:
                self.close_connection = True  # the body's end is unknown: the stream is lost
                message = "a bad Content-Length or chunked body"
                status, headers, payload = _error(400, "BadRequest", message)
            elif len(body) > MAX_BODY_BYTES:
                self.close_connection = True
                status, headers, payload = _too_large()
            else:
                status, headers, payload = self._dispatch(path, body, user)
        if user is not None:
            headers[DEV_IDENTITY_HEADER] = "development"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:  # asked for, or the body was not read: say so
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        identity = f" dev-user={user}" if user is not None else ""
        sys.stderr.write(
            f"[api] {self.command} {self.path} -> {status} "
            f"{(time.perf_counter() - started) * 1000:.0f} ms{identity}\n"
        )

    def _refusal(self, user: str | None) -> tuple[int, dict[str, str], bytes] | None:
        """Why this request is not served at all, before its body is read (or None)."""
        host = self.headers.get("Host")
        if not host:
            return _error(400, "MissingHost", "HTTP/1.1 requests need a Host header")
        if not self.server.host_allowed(host):
            message = f"this local server answers only to 127.0.0.1 or localhost, not {host}"
            return _error(421, "MisdirectedRequest", message)
        raw = (self.headers.get("Content-Length") or "0").strip()
        if raw.isdigit() and int(raw) > MAX_BODY_BYTES:
            return _too_large()
        if user is not None and not self.server.dev_identity:
            message = (
                "X-Dev-User is refused: the tables are not on this machine "
                "(fleet run --allow-dev-identity-remote allows it)"
            )
            return _error(403, "DevIdentityRefused", message)
        return None

    def _body(self) -> bytes | None:
        """The request body (chunked or sized), or ``None`` for a bad Content-Length.

        A chunked body stops being read once it passes :data:`MAX_BODY_BYTES`.
        """
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while total <= MAX_BODY_BYTES:
                try:
                    size = int(self.rfile.readline(100).split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    return None
                if size == 0:
                    self.rfile.readline(100)
                    return b"".join(chunks)
                size = min(size, MAX_BODY_BYTES + 1 - total)
                chunks.append(self.rfile.read(size))
                total += size
                self.rfile.readline(100)
            return b"".join(chunks)
        raw = self.headers.get("Content-Length") or "0"
        if not raw.strip().isdigit():
            return None
        length = int(raw)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(
        self, path: str, body: bytes, user: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.command == "GET" and path in self.server.extra:
            status, content_type, payload = self.server.extra[path]()
            return status, {"Content-Type": content_type}, payload
        for route in self.server.routes:
            params = route.match(self.command, path)
            if params is None:
                continue
            claims = (
                {self.server.caller_claim: user, "iss": "fleet-local-development"} if user else None
            )
            event = build_event(
                route,
                params,
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                claims,
                self.client_address[0],
            )
            try:
                result = route.function.invoke_within(event, self.server.gateway_timeout)
            except InvocationTimeout as timeout:
                return _error(504, "GatewayTimeout", str(timeout))
            except Exception:  # the function crashed: API Gateway answers 500, no details
                logger.exception("%s failed", route.function.name)
                return _error(500, "InternalError", "internal error")
            return _response(result)
        return _error(404, "RouteNotFound", f"no route for {self.command} {path}")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, error_body(status, code, message)


def _too_large() -> tuple[int, dict[str, str], bytes]:
    message = f"the body is over API Gateway's {MAX_BODY_BYTES // (1024 * 1024)} MB limit"
    return _error(413, "PayloadTooLarge", message)


def _response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A function's result as API Gateway turns it into a response (payload 2.0 rules)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # 2.0: a result without statusCode is the JSON body of a 200.
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ",".join(str(v) for v in values)
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    if result.get("cookies"):
        headers["Set-Cookie"] = "; ".join(result["cookies"])
    return int(result["statusCode"]), headers, payload
