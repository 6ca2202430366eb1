"""Kept-alive HTTP/1.1 connections to one endpoint, for the lean wire's requests.

botocore's ``URLLib3Session`` is general: per request it resolves proxies, looks up a
connection pool by URL, builds urllib3's retry and timeout objects and wraps the body in
streams, which costs about as much CPU again as the standard library's ``http.client``
doing the same exchange (about 750 against 380 µs for a 100-item BatchGetItem on this
machine, signing and parsing included). :class:`KeepAlivePool` sends a prepared request
on a pooled ``http.client`` connection and hands back botocore's ``AWSResponse``, so the
rest of the wire does not change. It is used only where it can do all that botocore's
session does for DynamoDB: without a proxy (:func:`session_for` gives botocore's own
session when one applies), with the client's TLS verification, client certificate,
timeouts and TCP keep-alive setting.

A connection that the server closed while it sat in the pool is detected when it is
reused and the request goes out once more on a fresh one (every request the layer
sends this way, batch reads and writes, Query and Scan pages, is idempotent); any other
failure becomes the botocore exception botocore's session raises for it, so the batch
layer retries it as it always has.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

__all__ = ["KeepAlivePool", "session_for"]

#: What a pooled connection that the server has closed looks like on reuse.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _Body:
    """The ``raw`` of an ``AWSResponse`` whose body was read already."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


class KeepAlivePool:
    """Up to ``max_size`` kept-alive connections to the endpoint of ``url``.

    Parameters
    ----------
    url:
        The endpoint (``http://`` or ``https://``); requests for other hosts are refused.
    verify:
        ``True`` (the system's CAs), ``False`` (no verification) or a CA bundle path.
    timeout:
        ``(connect, read)`` seconds, as botocore's ``Config`` gives them.
    max_size:
        Connections kept open at most; more may be open at once under load, the extra
        ones are closed after use.
    tcp_keepalive:
        Turn on TCP keep-alive probes, as botocore's ``Config(tcp_keepalive=True)``.
    client_cert:
        A certificate path, or a ``(certificate, key)`` pair, for mutual TLS.
    """

    def __init__(
        self,
        url: str,
        *,
        verify: bool | str = True,
        timeout: tuple[float | None, float | None] = (60.0, 60.0),
        max_size: int = 10,
        tcp_keepalive: bool = False,
        client_cert: str | tuple[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.connect_timeout, self.read_timeout = timeout
        self.max_size = max_size
        self.tcp_keepalive = tcp_keepalive
        self._context = _tls_context(verify, client_cert) if self.scheme == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections made so far: tests and the bench read it

    def send(self, request: Any) -> AWSResponse:
        """Send a prepared request (``AWSPreparedRequest``) and read its whole response."""
        url = request.url
        if not url.startswith(self.origin):
            raise ValueError(f"{url!r} is not on {self.origin}")
        target = url[len(self.origin) :] or "/"
        connection, reused = self._checkout()
        try:
            try:
                response = self._exchange(connection, request, target)
            except _STALE:
                connection.close()
                if not reused:
                    raise
                # Closed by the server while idle in the pool: once more, on a new one.
                connection, reused = self._connect(), False
                response = self._exchange(connection, request, target)
            content = response.read()
        except BaseException as error:
            connection.close()
            mapped = _botocore_error(error, url, connecting=False)
            if mapped is error:
                raise
            raise mapped from error
        if response.will_close:
            connection.close()
        else:
            self._checkin(connection)
        return AWSResponse(url, response.status, response.msg, _Body(content))

    def _exchange(
        self, connection: http.client.HTTPConnection, request: Any, target: str
    ) -> http.client.HTTPResponse:
        connection.request(request.method, target, request.body, dict(request.headers.items()))
        return connection.getresponse()

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _checkin(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_size:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._context is not None:
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.connect_timeout
            )
        try:
            connection.connect()  # http.client sets TCP_NODELAY, as botocore does
        except BaseException as error:
            connection.close()
            mapped = _botocore_error(error, self.origin, connecting=True)
            if mapped is error:
                raise
            raise mapped from error
        sock = connection.sock
        if self.tcp_keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.settimeout(self.read_timeout)
        self.opened += 1
        return connection

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _botocore_error(error: BaseException, url: str, *, connecting: bool) -> BaseException:
    """The exception botocore's session raises for the same failure (the batch layer
    treats each as transient and sends again); anything else as it is."""
    if not isinstance(error, Exception) or isinstance(error, BotoCoreError):
        return error
    mapped: BaseException = error
    if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
        if connecting:
            mapped = ConnectTimeoutError(endpoint_url=url, error=error)
        else:
            mapped = ReadTimeoutError(endpoint_url=url, error=error)
    elif connecting and isinstance(error, OSError):  # refused, unreachable, no such host, TLS
        mapped = EndpointConnectionError(endpoint_url=url, error=error)
    elif isinstance(error, (OSError, http.client.HTTPException)):
        mapped = ConnectionClosedError(endpoint_url=url, error=error)
    return mapped


def _tls_context(verify: bool | str, client_cert: str | tuple[str, str] | None) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.create_default_context()
    if isinstance(client_cert, str):
        context.load_cert_chain(client_cert)
    elif client_cert is not None:
        context.load_cert_chain(*client_cert)
    return context


def session_for(
    url: str,
    config: Any,
    *,
    verify: bool | str,
    max_pool_connections: int,
    socket_options: list[tuple[int, int, int]],
) -> KeepAlivePool | URLLib3Session:
    """The HTTP session the lean wire sends through for this endpoint and client config.

    A :class:`KeepAlivePool`, unless a proxy applies (the config's ``proxies``, or
    ``HTTPS_PROXY``/``HTTP_PROXY`` not bypassed by ``NO_PROXY``, as botocore reads them):
    then botocore's own ``URLLib3Session``, which tunnels through proxies.
    """
    proxies = config.proxies or get_environ_proxies(url)
    scheme = urlsplit(url).scheme
    if proxies and proxies.get(scheme):
        return URLLib3Session(
            verify=verify,
            proxies=proxies,
            timeout=(config.connect_timeout, config.read_timeout),
            max_pool_connections=max_pool_connections,
            socket_options=socket_options,
            client_cert=config.client_cert,
            proxies_config=config.proxies_config,
        )
    return KeepAlivePool(
        url,
        verify=verify,
        timeout=(config.connect_timeout, config.read_timeout),
        max_size=max_pool_connections,
        tcp_keepalive=bool(config.tcp_keepalive),
        client_cert=config.client_cert,
    )
