"""An ASGI app on a real uvicorn in a background thread, on a free port of a loopback host.

The live chaos campaign, the benchmarks and the simulator-server tests all host the server in their own
process so they can read the simulator directly; this is their one way of starting and stopping it. The
socket is bound before uvicorn starts, so there is no race for the port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn


@contextmanager
def serve_in_thread(app: Any, *, ready_path: str, host: str = "127.0.0.1", ready_timeout_s: float = 15.0,
                    thread_name: str = "sim-server", port: int = 0,
                    **server_options: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """Yield the base URL and the server once `ready_path` answers 200; stop the server on exit. `port` 0: a free
    one; another: that one (a second server at the URL of one stopped, as another account behind the same URL).

    `server_options` go to `uvicorn.Config` (the simulator's websocket ping interval and pong timeout).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **server_options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=thread_name)
    thread.start()
    try:
        wait_until_up(url + ready_path, ready_timeout_s)
        yield url, server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_until_up(url: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200; a server that never does is an error naming it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not answer {url} within {timeout_s:g} s")
        time.sleep(0.02)
