"""A TCP delay proxy: L/2 on each request, L/2 on each response, one extra L per connection.

It relays bytes, so HTTP keep-alive passes through untouched: a client that reuses its
connections pays L per request, one that opens a new connection pays one more L first
(the handshake of a real network). Bytes in each direction keep their order.
"""

from __future__ import annotations

import asyncio

__all__ = ["serve_proxy"]

CHUNK = 256 * 1024


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    not_before: float,
) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump() -> None:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                return

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = max(due, not_before) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(pump(), deliver())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(
    listen_port: int, target_port: int, latency: float, ready: asyncio.Future[int]
) -> None:
    half = latency / 2

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        # Nothing the client sends goes out before the emulated handshake has finished.
        handshake_done = asyncio.get_running_loop().time() + latency
        await asyncio.gather(
            _pipe(client_r, server_w, half, handshake_done),
            _pipe(server_r, client_w, half, 0.0),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, backlog=128)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def serve_proxy(target_port: int, latency: float, on_ready: object, listen_port: int = 0) -> None:
    """Run the proxy forever in this thread; ``on_ready(port)`` is called once it listens."""

    async def main() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(_serve(listen_port, target_port, latency, ready))
        port = await ready
        on_ready(port)  # type: ignore[operator]
        await task

    asyncio.run(main())
