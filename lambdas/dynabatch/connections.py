"""Kept-alive HTTP/1.1 connections to one endpoint, for the lean wire's requests.

botocore's ``URLLib3Session`` is general: per request it resolves proxies, looks up a
connection pool by URL, builds urllib3's retry and timeout objects and wraps the body in
streams, which costs about as much CPU again as the exchange itself (about 750 against
380 µs for a 100-item BatchGetItem on this machine, signing and parsing included).
:class:`KeepAlivePool` sends a prepared request on a pooled connection and hands back
botocore's ``AWSResponse``, so the rest of the wire does not change. It is used only
where it can do all that botocore's session does for DynamoDB: without a proxy
(:func:`session_for` gives botocore's own session when one applies), with the client's TLS
verification, client certificate, timeouts and TCP keep-alive setting.

Every exchange runs on a non-blocking socket (:class:`Exchange`), so one thread can keep
many requests in flight: :meth:`KeepAlivePool.start` begins one and a :class:`Waiter`
advances all of those it watches as their sockets become ready. The batch layer's
coordinator does exactly that, with no worker thread to hand each request to and back
(each hand-off costs a wake-up; at 25 items a request they were a fifth of the layer's
CPU). :meth:`KeepAlivePool.send` is the blocking form, for callers that have a thread per
request (Query and Scan pages).

A connection that the server closed while it sat in the pool is detected when it is
reused and the request goes out once more on a fresh one (every request the layer sends
this way, batch reads and writes, Query and Scan pages, is idempotent); any other failure
becomes the botocore exception botocore's session raises for it, so the batch layer
retries it as it always has.
"""

from __future__ import annotations

import errno
import http.client
import os
import selectors
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

__all__ = ["KeepAlivePool", "Exchange", "Waiter", "session_for"]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_CONNECTING, _HANDSHAKING, _SENDING, _RECEIVING, _DONE = range(5)
#: A response head larger than this is not an HTTP server we know.
_MAX_HEAD = 65536
#: TLS writes go out in slices: a retried non-blocking SSL write must repeat the same one.
_TLS_SLICE = 262144
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY}


class _Gone(Exception):
    """The connection ended before the response began: stale if it came from the pool."""


#: What a pooled connection that the server has closed looks like on reuse.
_STALE = (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, _Gone)


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
        ``(connect, read)`` seconds, as botocore's ``Config`` gives them: the first bounds
        the TCP connect and the TLS handshake, the second any wait for the server while
        sending or receiving.
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
        # What http.client sends as Host (and SigV4 signs): the port unless the default.
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = parts.port in (None, 443 if self.scheme == "https" else 80)
        self.host_header = host if default else f"{host}:{self.port}"
        self.connect_timeout, self.read_timeout = timeout
        self.max_size = max_size
        self.tcp_keepalive = tcp_keepalive
        self.context = _tls_context(verify, client_cert) if self.scheme == "https" else None
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections made so far: tests and the bench read it

    def start(self, request: Any) -> Exchange:
        """Begin sending a prepared request (``AWSPreparedRequest``) without blocking.

        The exchange goes as far as the socket allows at once; a :class:`Waiter` takes it
        the rest of the way. Requests for another origin raise ``ValueError``.
        """
        url = request.url
        if not url.startswith(self.origin):
            raise ValueError(f"{url!r} is not on {self.origin}")
        return Exchange(self, request, url[len(self.origin) :] or "/")

    def send(self, request: Any) -> AWSResponse:
        """Send a prepared request and read its whole response, blocking this thread."""
        exchange = self.start(request)
        if not exchange.done:
            waiter = Waiter()
            try:
                waiter.add(exchange)
                while not exchange.done:
                    waiter.wait(None)
            finally:
                waiter.close()
        return exchange.result()

    def checkout(self) -> socket.socket | None:
        """An idle connection, if any (the most recently used: the least likely closed)."""
        with self._lock:
            return self._idle.pop() if self._idle else None

    def checkin(self, sock: socket.socket) -> None:
        """Keep a connection whose exchange ended cleanly, up to ``max_size`` of them."""
        with self._lock:
            if len(self._idle) < self.max_size:
                self._idle.append(sock)
                return
        sock.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()


class Exchange:
    """One request and its response on one connection, advanced without ever blocking.

    :meth:`step` does what the socket allows now; :attr:`wants` says which readiness
    (read or write) it waits for, :attr:`expires` when that wait times out
    (:meth:`expire`). When :attr:`done`, :meth:`result` gives the response or raises the
    botocore exception for what went wrong.
    """

    __slots__ = (
        "addresses",
        "buffer",
        "data",
        "error",
        "expires",
        "head",
        "pool",
        "registered",
        "resent",
        "response",
        "reused",
        "selector",
        "sent",
        "sock",
        "state",
        "url",
        "wants",
    )

    def __init__(self, pool: KeepAlivePool, request: Any, target: str) -> None:
        self.pool = pool
        self.url: str = request.url
        self.data = _request_bytes(request, target, pool.host_header)
        self.sock: Any = None
        self.reused = False
        self.resent = False
        self.state = _CONNECTING
        self.wants = _WRITE
        self.expires = 0.0
        self.sent = 0
        self.buffer = bytearray()
        self.head: _Head | None = None
        self.addresses: list[Any] = []
        self.response: AWSResponse | None = None
        self.error: BaseException | None = None
        self.selector: selectors.BaseSelector | None = None
        self.registered = 0
        sock = pool.checkout()
        try:
            if sock is None:
                self._open()
            else:
                self.sock, self.reused = sock, True
                self._to_sending()
            if self.state != _CONNECTING:
                self.step()
        except Exception as error:
            self._fail(error)

    @property
    def done(self) -> bool:
        """The response is in, or the exchange failed."""
        return self.state == _DONE

    def result(self) -> AWSResponse:
        """The response; or the botocore exception for the failure."""
        if self.error is not None:
            raise self.error
        if self.response is None:
            raise RuntimeError("the exchange has not ended")
        return self.response

    def watch(self, selector: selectors.BaseSelector) -> None:
        """Have ``selector`` report this exchange's socket readiness (data: the exchange)."""
        self.selector = selector
        self._sync()

    # -- advancing ---------------------------------------------------------------------

    def step(self) -> None:
        """Advance as far as the socket allows without blocking."""
        if self.state == _DONE:
            return
        try:
            self._advance()
        except _STALE as error:
            if self.reused and not self.resent and not self.buffer:
                # Closed by the server while idle in the pool: once more, on a new one.
                self.resent = True
                self._drop_socket()
                self.sent, self.head = 0, None
                try:
                    self._open()
                    if self.state != _CONNECTING:
                        self._advance()
                except Exception as again:
                    self._fail(again)
            else:
                self._fail(error)
        except Exception as error:
            self._fail(error)
        self._sync()

    def expire(self) -> None:
        """The wait for the socket timed out: try the next address, or fail."""
        if self.state == _CONNECTING and self.addresses:
            try:
                self._drop_socket()
                self._connect_next()
                if self.state != _CONNECTING:
                    self._advance()
            except Exception as error:
                self._fail(error)
            self._sync()
            return
        self._fail(TimeoutError("timed out"))

    def cancel(self) -> None:
        """Stop here and close the connection (its state is unknown)."""
        if self.state != _DONE:
            self._fail(ConnectionAbortedError("the request was cancelled"))

    def _advance(self) -> None:
        # Only ever entered in _CONNECTING when the selector said the socket is writable:
        # before that SO_ERROR reads 0 while the connect is still under way.
        while True:
            state = self.state
            if state == _RECEIVING:
                self._receive()
                return
            if state == _SENDING:
                if not self._send():
                    return
            elif state == _CONNECTING:
                failure = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if failure in _IN_PROGRESS:
                    return
                if failure:
                    self._drop_socket()
                    if not self.addresses:
                        raise OSError(failure, os.strerror(failure))
                    self._connect_next()
                    if self.state == _CONNECTING:
                        return  # wait for the new socket to be writable
                    continue
                self._connected()
            elif state == _HANDSHAKING:
                try:
                    self.sock.do_handshake()
                except ssl.SSLWantReadError:
                    self.wants = _READ
                    return
                except ssl.SSLWantWriteError:
                    self.wants = _WRITE
                    return
                self._to_sending()
            else:
                return

    def _open(self) -> None:
        pool = self.pool
        self.reused = False
        self.addresses = socket.getaddrinfo(pool.host, pool.port, type=socket.SOCK_STREAM)
        self._connect_next()

    def _connect_next(self) -> None:
        family, kind, proto, _, address = self.addresses.pop(0)
        sock = socket.socket(family, kind, proto)
        self.sock = sock
        sock.setblocking(False)
        # botocore's socket options: no Nagle delay, keep-alive probes when configured.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.pool.tcp_keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.pool.opened += 1
        self.state, self.wants = _CONNECTING, _WRITE
        self.expires = _deadline(self.pool.connect_timeout)
        failure = sock.connect_ex(address)
        if failure == 0:
            self._connected()
        elif failure not in _IN_PROGRESS:
            self._drop_socket()
            if not self.addresses:
                raise OSError(failure, os.strerror(failure))
            self._connect_next()

    def _connected(self) -> None:
        context = self.pool.context
        if context is None:
            self._to_sending()
            return
        # The TLS socket takes over the descriptor: the selector must learn it again.
        self._unwatch()
        self.sock = context.wrap_socket(
            self.sock, server_hostname=self.pool.host, do_handshake_on_connect=False
        )
        self.state, self.wants = _HANDSHAKING, _WRITE
        self.expires = _deadline(self.pool.connect_timeout)

    def _to_sending(self) -> None:
        self.state, self.wants = _SENDING, _WRITE
        self.expires = _deadline(self.pool.read_timeout)

    def _send(self) -> bool:
        data, sock = self.data, self.sock
        tls = self.pool.context is not None
        while self.sent < len(data):
            piece = data[self.sent : self.sent + _TLS_SLICE] if tls else data[self.sent :]
            try:
                written = sock.send(piece)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                self.wants = _WRITE
                return False
            except ssl.SSLWantReadError:
                self.wants = _READ
                return False
            self.sent += written
            self.expires = _deadline(self.pool.read_timeout)
        self.state, self.wants = _RECEIVING, _READ
        self.expires = _deadline(self.pool.read_timeout)
        return True

    def _receive(self) -> None:
        sock, buffer = self.sock, self.buffer
        while True:
            try:
                data = sock.recv(262144)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                self.wants = _READ
                return
            except ssl.SSLWantWriteError:
                self.wants = _WRITE
                return
            if not data:
                self._at_eof()
                return
            buffer += data
            self.expires = _deadline(self.pool.read_timeout)
            if self._parse():
                return

    def _at_eof(self) -> None:
        head = self.head
        if head is None and not self.buffer:
            raise _Gone("the server closed the connection without answering")
        if head is not None and head.length is None and not head.chunked:
            self._complete(bytes(self.buffer[head.start :]), keep=False)  # ends at close
            return
        if head is None:
            raise http.client.RemoteDisconnected("the server closed the connection mid-answer")
        raise http.client.IncompleteRead(bytes(self.buffer[head.start :]))

    def _parse(self) -> bool:
        """Complete the response if the buffer holds all of it; True when done."""
        buffer = self.buffer
        head = self.head
        if head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise http.client.LineTooLong("response head")
                return False
            head = self.head = _Head(bytes(buffer[:end]), end + 4)
            if head.status == 100:  # "continue": the real answer follows
                del buffer[: end + 4]
                self.head = None
                return self._parse()
        if head.chunked:
            body = head.dechunk(buffer)
            if body is None:
                return False
            self._complete(body, keep=head.keep_alive and head.at == len(buffer))
            return True
        if head.length is None:
            return False  # the body ends when the connection does
        end = head.start + head.length
        if len(buffer) < end:
            return False
        self._complete(bytes(buffer[head.start : end]), keep=head.keep_alive and end == len(buffer))
        return True

    def _complete(self, body: bytes, *, keep: bool) -> None:
        head = self.head
        assert head is not None
        self.response = AWSResponse(self.url, head.status, head.headers, _Body(body))
        self.state = _DONE
        sock = self.sock
        self._unwatch()
        self.sock = None
        self.buffer = bytearray()
        if keep:
            self.pool.checkin(sock)
        else:
            sock.close()

    def _fail(self, error: BaseException) -> None:
        connecting = self.state in (_CONNECTING, _HANDSHAKING)
        self.state = _DONE
        self._drop_socket()
        mapped = _botocore_error(error, self.url, connecting=connecting)
        if mapped is not error:
            mapped.__cause__ = error
        self.error = mapped

    # -- the selector ------------------------------------------------------------------

    def _sync(self) -> None:
        selector = self.selector
        if selector is None or self.state == _DONE:
            return
        if not self.registered:
            selector.register(self.sock, self.wants, self)
        elif self.registered != self.wants:
            selector.modify(self.sock, self.wants, self)
        self.registered = self.wants

    def _unwatch(self) -> None:
        if self.registered and self.selector is not None:
            self.selector.unregister(self.sock)
        self.registered = 0

    def _drop_socket(self) -> None:
        # Unregistered before it is closed: a new socket may get the same descriptor.
        if self.sock is not None:
            self._unwatch()
            self.sock.close()
            self.sock = None
        self.buffer = bytearray()


class _Head:
    """A parsed response head, and how its body is framed."""

    __slots__ = ("at", "chunked", "headers", "keep_alive", "length", "parts", "start", "status")

    def __init__(self, raw: bytes, start: int) -> None:
        lines = raw.decode("iso-8859-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/") or not code.isdigit():
            raise http.client.BadStatusLine(lines[0])
        self.status = int(code)
        headers = HeadersDict()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise http.client.HTTPException(f"malformed header line {line!r}")
            name, value = name.strip(), value.strip()
            if name in headers:
                value = f"{headers[name]}, {value}"
            headers[name] = value
        self.headers = headers
        self.start = start
        connection = headers.get("Connection", "").lower()
        self.keep_alive = "close" not in connection and (
            version != "HTTP/1.0" or "keep-alive" in connection
        )
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        length = headers.get("Content-Length")
        if self.status in (204, 304) or 100 <= self.status < 200:
            self.length: int | None = 0
        elif self.chunked:
            self.length = None
        elif length is not None:
            if not length.strip().isdigit():
                raise http.client.HTTPException(f"bad Content-Length {length!r}")
            self.length = int(length)
        else:
            self.length = None
            self.keep_alive = False
        self.parts: list[bytes] = []
        self.at = start  # where the next chunk's size line begins

    def dechunk(self, buffer: bytearray) -> bytes | None:
        """The whole body once the last chunk (and trailers) arrived, else None."""
        while True:
            line_end = buffer.find(b"\r\n", self.at)
            if line_end < 0:
                return None
            size_text = bytes(buffer[self.at : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise http.client.HTTPException(f"bad chunk size {size_text!r}") from None
            if size == 0:
                # Trailers, if any, end with an empty line.
                if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                    self.at = line_end + 4
                    return b"".join(self.parts)
                trailers_end = buffer.find(b"\r\n\r\n", line_end + 2)
                if trailers_end < 0:
                    return None
                self.at = trailers_end + 4
                return b"".join(self.parts)
            chunk_end = line_end + 2 + size
            if len(buffer) < chunk_end + 2:
                return None
            self.parts.append(bytes(buffer[line_end + 2 : chunk_end]))
            self.at = chunk_end + 2


class Waiter:
    """Waits on many exchanges at once and advances each as its socket becomes ready."""

    def __init__(self) -> None:
        # Made on first use: a call whose answers all come at once (a hook answered them)
        # never needs one, and an epoll descriptor costs system calls to make and close.
        self.selector: selectors.BaseSelector | None = None
        self.pending: set[Exchange] = set()

    def add(self, exchange: Exchange) -> None:
        """Watch ``exchange`` (one already done is handed back by the next :meth:`wait`)."""
        if self.selector is None:
            self.selector = selectors.DefaultSelector()
        self.pending.add(exchange)
        exchange.watch(self.selector)

    def wait(self, timeout: float | None) -> list[Exchange]:
        """The exchanges that ended, waiting up to ``timeout`` seconds (``None``: until one
        ends or one's own timeout passes); may be empty."""
        pending = self.pending
        if not pending:
            return []
        if any(exchange.done for exchange in pending):
            timeout = 0.0
        elif pending:
            limit = max(0.0, min(exchange.expires for exchange in pending) - time.monotonic())
            timeout = limit if timeout is None else min(timeout, limit)
        assert self.selector is not None  # made by add()
        for key, _ in self.selector.select(timeout):
            key.data.step()
        now = time.monotonic()
        ended = []
        for exchange in list(pending):
            if not exchange.done and exchange.expires <= now:
                exchange.expire()
            if exchange.done:
                pending.discard(exchange)
                ended.append(exchange)
        return ended

    def close(self) -> None:
        """Cancel what is still pending and stop watching."""
        for exchange in self.pending:
            exchange.cancel()
        self.pending.clear()
        if self.selector is not None:
            self.selector.close()


def _deadline(timeout: float | None) -> float:
    return time.monotonic() + (timeout if timeout is not None else 1e9)


def _request_bytes(request: Any, target: str, host: str) -> bytes:
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {host}"]
    has_length = False
    for name, value in request.headers.items():
        if isinstance(value, bytes):
            value = value.decode("iso-8859-1")
        if name.lower() == "content-length":
            has_length = True
        lines.append(f"{name}: {value}")
    if not has_length:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")
    return head + bytes(body)


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
    elif isinstance(error, (OSError, http.client.HTTPException, _Gone)):
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
