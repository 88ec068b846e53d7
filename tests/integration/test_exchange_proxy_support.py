"""A fault-injecting HTTP proxy for the exchange-adapter tests (holds no tests itself).

It sits between the ccxt adapter and the simulator server on 127.0.0.1 and, for the next request
matching a method and path, can: `drop` (forward it, let the order be accepted, then close the
connection without an answer), `hang` (forward it, then answer only after the client has timed
out), `503` or `429` (answer without forwarding; 429 carries `Retry-After: 1`), or `delay`.
Every request it sees is logged as (method, path, fault) so tests can count what was sent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Fault:
    method: str
    path: str
    kind: str  # drop | hang | 503 | 429 | delay
    seconds: float = 0.0


@dataclass
class FaultProxy:
    upstream: str
    url: str = ""
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def inject(self, method: str, path: str, kind: str, seconds: float = 0.0) -> None:
        self.faults.append(Fault(method, path, kind, seconds))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.log if (m, p) == (method, path))

    def _take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if (fault.method, fault.path) == (method, path):
                self.faults.remove(fault)
                return fault
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
        body = await reader.readexactly(length) if length else b""
        path = target.split("?", 1)[0]
        fault = self._take(method, path)
        self.log.append((method, path, fault.kind if fault else ""))
        await self._answer(writer, fault, method, target, headers, body)

    async def _answer(self, writer: asyncio.StreamWriter, fault: Fault | None, method: str, target: str,
                      headers: dict[str, str], body: bytes) -> None:
        kind = fault.kind if fault else ""
        if kind == "503":
            await _respond(writer, 503, {"Content-Type": "text/html"}, b"<html>Service Unavailable</html>")
            return
        if kind == "429":
            payload = b'{"code":-1003,"msg":"Too many requests; please use the websocket for live updates."}'
            await _respond(writer, 429, {"Content-Type": "application/json", "Retry-After": "1"}, payload)
            return
        if kind == "delay" and fault:
            await asyncio.sleep(fault.seconds)
        forward = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
        async with httpx.AsyncClient() as client:
            upstream = await client.request(method, self.upstream + target, headers=forward, content=body)
        if kind == "drop":
            writer.transport.abort()
            return
        if kind == "hang" and fault:
            await asyncio.sleep(fault.seconds)
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        await _respond(writer, upstream.status_code, kept, upstream.content)


async def _respond(writer: asyncio.StreamWriter, status: int, headers: dict[str, str], body: bytes) -> None:
    reason = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "X")
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        writer.close()
    except ConnectionError:
        pass


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """Run the proxy on a free loopback port in its own thread and event loop."""
    proxy = FaultProxy(upstream)
    loop = asyncio.new_event_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    proxy.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = loop.run_until_complete(asyncio.start_server(proxy.handle, sock=sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(server), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


async def _shutdown(server: asyncio.Server) -> None:
    """Close the listener and cancel handlers still sleeping in a `hang` fault, so nothing leaks."""
    server.close()
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
