"""A lean DynamoDB JSON 1.0 transport: the body goes out as given, the response comes back parsed.

botocore's client spends most of a batch request's CPU walking shapes: serialising the
parameters, then parsing every attribute of the response. With the body already built by
:mod:`dynabatch.codec`, what is left to do is small: sign, send, check, ``json.loads``.
:class:`WireClient` does only that, using the botocore client it is given for everything
else: its credentials (refreshed as botocore refreshes them), region, endpoint (including
``AWS_ENDPOINT_URL_DYNAMODB``), user agent and connection settings, and its event system,
so that moto's in-process mock and the tests' ``before-send`` hooks see every request.

It relies on public botocore pieces (``AWSPreparedRequest``, ``HeadersDict``,
``AWSResponse``, the event emitter, its JSON parser for errors, ``client.exceptions``)
plus two read-only private ones, ``client._get_credentials()`` and the client's user-agent
builder; ``tests/unit/dynabatch/test_wire.py`` has a canary that fails if an upgrade moves
them.

:meth:`WireClient.call` sends one request and blocks; a :class:`Multiplexer` keeps many
in flight on the calling thread (each a :class:`Call`, advanced by one ``selectors`` wait),
which is how the batch layer sends when the HTTP session can start a request without
blocking (:class:`dynabatch.connections.KeepAlivePool`).

Signing is SigV4 as AWS documents it, computed here for the one request shape this path
sends (``POST``, five headers): botocore's ``SigV4Auth`` spends about 60 µs a request
walking generic headers and deriving the signing key four HMACs deep every time, most of
a lean request's own CPU. :class:`Signer` derives the key once a day and builds the
canonical request from known parts; a test proves its ``Authorization`` header equal,
byte for byte, to ``SigV4Auth``'s for the same request, credentials and second.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, HeadersDict
from botocore.exceptions import ChecksumError, ClientError, NoCredentialsError
from botocore.hooks import first_non_none_response
from botocore.parsers import create_parser
from botocore.utils import is_valid_ipv6_endpoint_url, normalize_url_path

from .codec import load_body
from .connections import Exchange, Waiter, session_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["WireClient", "Call", "Multiplexer", "Signer", "error_from_response"]


class WireClient:
    """Send DynamoDB JSON 1.0 bodies the way the given botocore client would.

    Parameters
    ----------
    client:
        A botocore/boto3 DynamoDB client; its settings are read once, its credentials on
        every call.
    max_pool_connections:
        Connections kept alive; at least the client's ``max_pool_connections``. Pass the
        layer's concurrency so that no request waits for a connection.
    verify:
        TLS verification as botocore takes it (``False``, or a CA bundle path); ``None``
        uses ``REQUESTS_CA_BUNDLE``/``AWS_CA_BUNDLE`` like botocore, else ``True``.
    http_session:
        Anything with botocore's ``send(prepared_request) -> AWSResponse``; default
        :func:`dynabatch.connections.session_for` the endpoint: kept-alive ``http.client``
        connections with the client's TLS, timeouts and TCP keep-alive setting, or
        botocore's ``URLLib3Session`` when a proxy applies.

    Example
    -------
    >>> wire = WireClient(make_client(16), max_pool_connections=16)
    >>> wire.call("BatchGetItem", codec.batch_get_body({"devices": [key_text]}))
    {'Responses': {'devices': [...]}, 'UnprocessedKeys': {}}
    """

    def __init__(
        self,
        client: DynamoDBClient | Any,
        *,
        max_pool_connections: int | None = None,
        verify: bool | str | None = None,
        http_session: Any = None,
    ) -> None:
        meta = client.meta
        model = meta.service_model
        if model.protocol != "json" or model.metadata.get("jsonVersion") != "1.0":
            raise ValueError(
                f"WireClient speaks JSON 1.0; {model.service_name} uses {model.protocol}"
            )
        self.client = client
        self._events = meta.events
        self._service_id = model.service_id.hyphenize()
        self._operations = frozenset(model.operation_names)
        self._models: dict[str, Any] = {}
        self._target_prefix = model.metadata["targetPrefix"] + "."
        self._content_type = "application/x-amz-json-1.0"
        self._url = meta.endpoint_url.rstrip("/") + "/"
        self.signer = Signer(self._url, meta.region_name, model.signing_name)
        self._credentials = client._get_credentials()
        self._user_agent = client._user_agent_creator.to_string()
        config = meta.config
        pool = max(max_pool_connections or 0, config.max_pool_connections)
        self.max_pool_connections = pool
        self.http_session = http_session or session_for(
            self._url,
            config,
            verify=_verify(verify),
            max_pool_connections=pool,
            socket_options=_socket_options(config.tcp_keepalive),
        )

    def call(self, operation: str, body: str | bytes) -> dict[str, Any]:
        """Send one request and return its parsed JSON response.

        Parameters
        ----------
        operation:
            The DynamoDB operation as botocore names it, e.g. ``"BatchWriteItem"``.
        body:
            The request body, DynamoDB JSON 1.0 (see :mod:`dynabatch.codec`).

        Returns
        -------
        dict
            ``json.loads`` of the response body: items stay DynamoDB JSON with binary as
            base64 text (:func:`dynabatch.codec.decode_item` takes them as they are).

        Raises
        ------
        botocore.exceptions.ClientError
            For any error response, the same class, ``Error.Code``, ``Error.Message`` and
            operation name botocore's client raises (throttling included). Nothing is
            retried here: the layer decides.
        botocore.exceptions.ChecksumError
            When the body does not match its ``x-amz-crc32`` header.
        botocore.exceptions.NoCredentialsError
            When the client has no credentials.
        """
        return self._start(operation, body, self.http_session.send).result()

    @property
    def multiplexes(self) -> bool:
        """Whether :meth:`multiplexer` can keep many requests in flight on one thread
        (the HTTP session can start a request without blocking)."""
        return hasattr(self.http_session, "start")

    def multiplexer(self) -> Multiplexer:
        """Many requests in flight on the calling thread; see :class:`Multiplexer`."""
        if not self.multiplexes:
            raise TypeError("this HTTP session sends only blocking; use call()")
        return Multiplexer(self)

    def _start(self, operation: str, body: str | bytes, send: Callable[[Any], Any]) -> Call:
        model = self._models.get(operation)
        if model is None:
            if operation not in self._operations:
                raise ValueError(f"unknown DynamoDB operation {operation!r}")
            model = self._models[operation] = self.client.meta.service_model.operation_model(
                operation
            )
        data = body.encode("utf-8") if isinstance(body, str) else body
        context: dict[str, Any] = {}
        # botocore's before-call/after-call too, so hooks written for the client's
        # methods (counting calls, answering with a canned response) see this path.
        _, answer = self._events.emit_until_response(
            f"before-call.{self._service_id}.{operation}",
            model=model,
            params={"url_path": "/", "method": "POST", "body": data, "context": context},
            request_signer=None,
            context=context,
        )
        call = Call(self, operation, model, context)
        if answer is not None:
            call.answer = answer
            return call
        try:
            prepared = self._prepare(operation, data)
            answers = self._events.emit(
                f"before-send.{self._service_id}.{operation}", request=prepared
            )
            response = first_non_none_response(answers)
            call.response = send(prepared) if response is None else response
        except Exception as problem:
            call.failed(problem)
            raise
        return call

    def _prepare(self, operation: str, data: bytes) -> AWSPreparedRequest:
        if self._credentials is None:
            raise NoCredentialsError()
        # Per request: refreshing credentials (assumed roles, SSO) renew themselves here.
        frozen = self._credentials.get_frozen_credentials()
        headers = self.signer.sign(
            frozen, self._target_prefix + operation, self._content_type, data
        )
        headers["User-Agent"] = self._user_agent
        headers["Content-Length"] = str(len(data))
        return AWSPreparedRequest("POST", self._url, HeadersDict(headers), data, False, {})

    def _parse(
        self, operation: str, response: Any
    ) -> tuple[Any, dict[str, Any], ClientError | None]:
        content = response.content
        _check_crc32(response.headers, content)
        if response.status_code >= 300:
            error = error_from_response(
                self.client, operation, response.status_code, response.headers, content
            )
            return response, cast(dict[str, Any], error.response), error
        return response, load_body(content), None

    def close(self) -> None:
        """Close the kept-alive connections (only those this transport opened)."""
        close = getattr(self.http_session, "close", None)
        if close is not None:
            close()


class Call:
    """One request of :class:`WireClient` on its way.

    Done at once when a hook answered it (``before-call``, ``before-send``: moto's
    in-process mock, the tests' stubs) or the HTTP session sent it blocking; otherwise
    it waits on a :class:`~dynabatch.connections.Exchange` that a :class:`Multiplexer`
    advances. :meth:`result` is :meth:`WireClient.call`'s answer, errors included.
    """

    __slots__ = ("answer", "context", "model", "operation", "response", "wire")

    def __init__(self, wire: WireClient, operation: str, model: Any, context: dict[str, Any]):
        self.wire = wire
        self.operation = operation
        self.model = model
        self.context = context
        self.answer: tuple[Any, dict[str, Any]] | None = None
        self.response: Any = None

    @property
    def done(self) -> bool:
        """Its answer is in (or it failed): :meth:`result` will not wait."""
        return self.answer is not None or getattr(self.response, "done", True)

    def failed(self, problem: Exception) -> None:
        """Tell ``after-call-error`` hooks, as botocore's client does."""
        wire = self.wire
        wire._events.emit(
            f"after-call-error.{wire._service_id}.{self.operation}",
            exception=problem,
            context=self.context,
        )

    def result(self) -> dict[str, Any]:
        """The parsed JSON response; raises as :meth:`WireClient.call` does."""
        wire, operation = self.wire, self.operation
        if self.answer is not None:
            http, parsed = self.answer
            error = None
            if http.status_code >= 300:
                code = parsed.get("Error", {}).get("Code")
                error = wire.client.exceptions.from_code(code)(parsed, operation)
        else:
            try:
                response = self.response
                if isinstance(response, Exchange):
                    response = response.result()
                http, parsed, error = wire._parse(operation, response)
            except Exception as problem:
                self.failed(problem)
                raise
        wire._events.emit(
            f"after-call.{wire._service_id}.{operation}",
            http_response=http,
            parsed=parsed,
            model=self.model,
            context=self.context,
        )
        if error is not None:
            raise error
        return parsed


class Multiplexer:
    """Many :class:`WireClient` requests in flight on one thread, no worker threads.

    :meth:`start` sends a request as far as its socket allows and returns its
    :class:`Call`; :meth:`wait` advances every request whose socket is ready and hands
    back those that ended. One per caller (it is not thread-safe); connections come from
    and go back to the wire's shared pool.
    """

    def __init__(self, wire: WireClient) -> None:
        self.wire = wire
        self.waiter = Waiter()
        self.ended: list[Call] = []
        self.calls: dict[Exchange, Call] = {}

    def start(self, operation: str, body: str | bytes) -> Call:
        """Begin one request; raises what :meth:`WireClient.call` raises before sending."""
        call = self.wire._start(operation, body, self.wire.http_session.start)
        response = call.response
        if isinstance(response, Exchange):
            self.calls[response] = call
            self.waiter.add(response)
        else:
            self.ended.append(call)
        return call

    def wait(self, timeout: float | None) -> list[Call]:
        """The calls that ended, waiting up to ``timeout`` seconds for one (``None``:
        until one ends or a socket's own timeout passes); may be empty."""
        if self.ended:
            ended, self.ended = self.ended, []
            ended.extend(self.calls.pop(exchange) for exchange in self.waiter.wait(0.0))
            return ended
        return [self.calls.pop(exchange) for exchange in self.waiter.wait(timeout)]

    def cancel(self, call: Call) -> None:
        """Stop waiting for ``call`` and close its connection (it may have been applied)."""
        response = call.response
        if isinstance(response, Exchange):
            response.cancel()

    def close(self) -> None:
        """Cancel what is still in flight and stop watching sockets."""
        self.waiter.close()
        self.calls.clear()
        self.ended.clear()


class Signer:
    """AWS Signature Version 4 for ``POST`` requests to one endpoint, region and service.

    Signs what :class:`WireClient` sends: a body, ``Content-Type``, ``Host``,
    ``X-Amz-Date``, ``X-Amz-Target`` and, with temporary credentials,
    ``X-Amz-Security-Token`` (``User-Agent`` is never signed, as botocore leaves it out).
    The signing key is derived once per secret key and day, not on every request.

    Parameters
    ----------
    url:
        The endpoint URL requests go to; its host, port and path are signed.
    region, service:
        The credential scope, e.g. ``"us-east-1"`` and ``"dynamodb"``.
    clock:
        Seconds since the epoch; ``time.time`` by default.
    """

    def __init__(
        self, url: str, region: str, service: str, clock: Callable[[], float] = time.time
    ) -> None:
        parts = urlsplit(url)
        self.host = _signed_host(url)
        self._path = quote(normalize_url_path(parts.path), safe="/~")
        pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&") if parts.query)
        self._query = "&".join(f"{name}={value}" for name, value in pairs)
        self._tail = f"/{region}/{service}/aws4_request"
        self._region = region
        self._service = service
        self._clock = clock
        self._second = -1
        self._stamp = ""
        self._key: tuple[str, str, bytes] = ("", "", b"")

    def sign(self, credentials: Any, target: str, content_type: str, body: bytes) -> dict[str, str]:
        """The headers to send: those above plus ``Authorization``.

        ``credentials`` are frozen ones (``access_key``, ``secret_key``, ``token``).
        """
        now = int(self._clock())
        if now != self._second:
            self._stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            self._second = now
        stamp = self._stamp
        day = stamp[:8]
        token = credentials.token
        target = " ".join(target.split())
        content_type = " ".join(content_type.split())
        if token:
            token = " ".join(token.split())
            signed = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
            canonical_headers = (
                f"content-type:{content_type}\nhost:{self.host}\nx-amz-date:{stamp}\n"
                f"x-amz-security-token:{token}\nx-amz-target:{target}\n"
            )
        else:
            signed = "content-type;host;x-amz-date;x-amz-target"
            canonical_headers = (
                f"content-type:{content_type}\nhost:{self.host}\nx-amz-date:{stamp}\n"
                f"x-amz-target:{target}\n"
            )
        canonical = (
            f"POST\n{self._path}\n{self._query}\n{canonical_headers}\n{signed}\n"
            + hashlib.sha256(body).hexdigest()
        )
        scope = day + self._tail
        to_sign = (
            f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n"
            + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        )
        signature = hmac.new(
            self._signing_key(credentials.secret_key, day), to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        headers = {
            "X-Amz-Target": target,
            "Content-Type": content_type,
            "X-Amz-Date": stamp,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }
        if token:
            headers["X-Amz-Security-Token"] = credentials.token
        return headers

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached_secret, cached_day, key = self._key
        if cached_secret == secret and cached_day == day:
            return key
        key = _hmac(("AWS4" + secret).encode("utf-8"), day)
        for part in (self._region, self._service, "aws4_request"):
            key = _hmac(key, part)
        self._key = (secret, day, key)
        return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signed_host(url: str) -> str:
    # The Host value SigV4 signs: lower case, IPv6 in brackets, the port unless default.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_valid_ipv6_endpoint_url(url):
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _check_crc32(headers: Any, content: bytes) -> None:
    expected = headers.get("x-amz-crc32")
    if expected is None:
        return
    actual = zlib.crc32(content) & 0xFFFFFFFF
    if actual != int(expected):
        raise ChecksumError(
            checksum_type="crc32", expected_checksum=int(expected), actual_checksum=actual
        )


def error_from_response(
    client: Any, operation: str, status: int, headers: Any, content: bytes
) -> ClientError:
    """The ``ClientError`` botocore's client raises for this error response.

    Errors are rare, so they go through botocore's own JSON parser, generic and modeled
    (``CancellationReasons``, a failed condition's ``Item``), exactly as botocore's endpoint
    does: same class (``client.exceptions``), ``Error.Code``, ``Error.Message``, members.
    """
    model = client.meta.service_model
    parser = create_parser(model.protocol)
    response = {"status_code": status, "headers": headers, "body": content, "context": {}}
    parsed: dict[str, Any] = parser.parse(response, model.operation_model(operation).output_shape)
    code = parsed.get("Error", {}).get("Code")
    error_shape = model.shape_for_error_code(code) if code else None
    if error_shape is not None:
        parsed.update(parser.parse(response, error_shape))
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
    error: ClientError = client.exceptions.from_code(code)(parsed, operation)
    return error


def _verify(verify: bool | str | None) -> bool | str:
    if verify is not None:
        return verify
    bundle = os.environ.get("AWS_CA_BUNDLE") or os.environ.get("REQUESTS_CA_BUNDLE")
    return bundle or True


def _socket_options(tcp_keepalive: bool | None) -> list[tuple[int, int, int]]:
    # botocore's own choice: no Nagle delay, and keep-alive probes when configured.
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    if tcp_keepalive:
        options.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
    return options
