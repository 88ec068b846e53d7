"""The HTTP servers' listening sockets, bound before anything else starts.

Why not let uvicorn bind: it finds a busy port only when it starts serving, after the bot's start-up sweep
(or the simulator server's banner with its URL), logs `[Errno 98]` and exits 3, a code `run` reserves for
"readiness not met". Binding first turns a busy or forbidden address into one `ConfigError` line naming
the option, the address and the fix (exit 2), and the server then serves exactly these sockets, so no other
process can take the port in between.

Like asyncio's `create_server(host=...)`, every address the host resolves to is bound (`localhost` may be
both 127.0.0.1 and ::1), IPv6 sockets only for IPv6; with port 0 the first one picks a free port and the
others take the same.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from ..domain.errors import ConfigError

#: The listen backlog uvicorn uses by default.
BACKLOG = 2048


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """How the command's user sets the address, for the error line: `--port / QT_API_PORT` for `run`,
    `--port` for `sim-server`."""

    port: str
    host: str


def bind_listeners(host: str, port: int, names: ListenOptions) -> list[socket.socket]:
    """Bound, listening sockets for `host`:`port`; a `ConfigError` naming the option and the fix if not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"{names.host} {host}: this machine cannot resolve it ({exc.strerror}); "
                          "give an address such as 127.0.0.1") from None
    sockets: list[socket.socket] = []
    address: tuple[object, ...] = (host, port)
    done: set[tuple[object, ...]] = set()
    try:
        for family, kind, proto, _, sockaddr in infos:
            if (family, *sockaddr) in done:
                continue
            done.add((family, *sockaddr))
            address = tuple(sockaddr)
            if port == 0 and sockets:  # the port the first socket picked, for every address
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sockets.append(_listening(family, kind, proto, address))
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(_why(exc, host, port, _shown(address), names)) from None
    return sockets


def _listening(family: socket.AddressFamily, kind: socket.SocketKind, proto: int,
               address: tuple[object, ...]) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse a port in TIME_WAIT
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)  # listening now: SO_REUSEADDR lets a second socket bind a port only bound
    except OSError:
        sock.close()
        raise
    return sock


def _shown(address: tuple[object, ...]) -> str:
    host, port = str(address[0]), address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _why(exc: OSError, host: str, port: int, shown: str, names: ListenOptions) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"{names.port} {port}: {shown} is already in use (another bot, sim-server or program listens "
                f"there); stop it, or choose a free port with {names.port} (0 picks one)")
    if exc.errno == errno.EACCES:
        return (f"{names.port} {port}: not allowed to listen on {shown} (ports below 1024 need privileges); "
                f"choose a port from 1024 up with {names.port}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{names.host} {host}: this machine has no such address, so nothing can listen on {shown}; "
                "give one of its addresses, such as 127.0.0.1")
    return f"{names.port} {port}: cannot listen on {shown} ({exc.strerror or exc}); check {names.host} and {names.port}"
