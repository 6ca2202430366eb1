"""Entry point of the server processes the harness starts (never the process it measures).

``python -m bench.serve responder|moto|proxy ...`` prints ``{"port": N}`` on one line once
it listens, and exits when its standard input closes (the harness went away) or after
``--max-seconds``, so no server outlives a run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import ThreadingHTTPServer

__all__ = ["main"]


def _announce(port: int) -> None:
    print(json.dumps({"port": port}), flush=True)


def _exit_with_parent(max_seconds: float) -> None:
    def watch() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    timer = threading.Timer(max_seconds, os._exit, args=(0,))
    timer.daemon = True
    timer.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("kind", choices=["responder", "moto", "proxy"])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--unprocessed-every", type=int, default=0)
    parser.add_argument("--target-port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    _exit_with_parent(args.max_seconds)
    latency = args.latency_ms / 1000.0

    server: ThreadingHTTPServer
    if args.kind == "responder":
        from .responder import ResponderServer

        server = ResponderServer(("127.0.0.1", 0), latency, args.unprocessed_every)
        _announce(server.server_address[1])
        server.serve_forever()
    elif args.kind == "moto":
        from .motoserver import MotoServer

        server = MotoServer(("127.0.0.1", 0))
        _announce(server.server_address[1])
        server.serve_forever()
    else:
        from .proxy import serve_proxy

        serve_proxy(args.target_port, latency, _announce)


if __name__ == "__main__":
    main()
