"""systemd's notify protocol (`sd_notify`) without a dependency.

Why: the unit runs with Type=notify and WatchdogSec, so systemd knows the bot is *ready* only after
start-up reconciled with the exchange, and restarts it if its event loop hangs (a hung bot leaves open
positions unwatched). The protocol is one datagram of `KEY=VALUE` lines to the AF_UNIX socket named in
$NOTIFY_SOCKET; a name starting with '@' is in Linux's abstract namespace. Outside systemd (tests,
`make run`, Docker) the variable is unset and every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def _address(raw: str) -> str | None:
    """The socket address systemd gave: a path, or '@name' for the abstract namespace ('\\0name')."""
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # vsock: and other transports are not used for a service unit on a host


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1", "WATCHDOG=1", "STOPPING=1"); True if a datagram was sent.

    A failed send is reported by the return value, never raised: losing one watchdog ping must not
    crash a bot that is holding positions; if pings keep failing systemd restarts it anyway.
    """
    raw = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    address = _address(raw) if raw else None
    if address is None or not hasattr(socket, "AF_UNIX"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between "WATCHDOG=1" pings: half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.

    None when the watchdog is off, the value is not a positive integer, or $WATCHDOG_PID names another
    process (systemd sets it so a child that inherited the environment does not ping for its parent).
    """
    source = os.environ if env is None else env
    try:
        usec = int(source.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = source.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2 / 1_000_000
