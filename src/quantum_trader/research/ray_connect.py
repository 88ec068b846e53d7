"""Connecting to a Ray cluster (`sweep --address`) with an answer a person can act on.

When the cluster refuses (a wrong or missing token: Ray 2.60 clusters use token authentication),
Ray's native client writes one warning line per second to the process's stderr for about 20 s, then
raises "Failed to connect to Ray cluster at <its node address>", which does not say why. The native
lines are caught while connecting (at the file-descriptor level: they do not go through Python) and
the reason in them is put into the one error the user sees; on success they are dropped.

Starting Ray also leaves something on stdout at exit unless it is undone (`no_colour_reset_at_exit`).
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: "... RPC error: InvalidAuthToken: Authentication token is missing or incorrect" -> the part after "error: ".
_REASON = re.compile(r"(?:RPC error|Status): *(?P<reason>[^\n]+)")
CONNECT_TIMEOUT_S = 5.0
AUTH_HINT = ("the cluster uses token authentication: export RAY_AUTH_MODE=token and its token as "
             "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH)")


def no_colour_reset_at_exit() -> None:
    """Starting or joining Ray imports ray/autoscaler/_private/cli_logger.py, which runs its vendored
    `colorama.init()`: an exit handler that writes ESC[0m to stdout when stdout is a terminal, after `sweep
    --json`'s document, which was then no longer one JSON document ("Extra data"). Nothing here colours stdout
    through colorama, so there is nothing to reset: the handler is taken off (call this after `ray.init`;
    colorama registers it once per process)."""
    initialise = sys.modules.get("colorama.initialise")
    reset = getattr(initialise, "reset_all", None)
    if reset is not None:
        atexit.unregister(reset)


@contextmanager
def _native_stderr() -> Iterator[list[str]]:
    """Everything written to file descriptor 2 inside the block, as text once the block ends."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:  # before the dup: a temp file that cannot be made leaks nothing
        saved = os.dup(2)
        captured: list[str] = []
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


#: What Ray raises when it cannot reach or join the cluster; anything else is not a refusal and is not relabelled.
_REFUSALS = (ConnectionError, TimeoutError, OSError, RuntimeError)


def connect(ray: Any, address: str, options: dict[str, Any]) -> None:
    """`ray.init(address=...)`, or a ConnectionError whose message says why Ray refused.

    An address where nothing listens is refused before Ray is asked: Ray would retry it for more than
    ten minutes (measured) without a word. Whatever Ray printed while connecting successfully is passed
    on to stderr afterwards, so nothing is lost but the retry lines of a refusal."""
    _check_listening(address)
    failure: Exception | None = None
    with _native_stderr() as captured:
        try:
            ray.init(address=address, **options)
        except _REFUSALS as exc:
            failure = exc
    native = "".join(captured)
    if failure is None:
        sys.stderr.write(native)
        return
    raise ConnectionError(refusal(str(failure), native)) from failure


def _check_listening(address: str) -> None:
    """ConnectionError unless something accepts a TCP connection at the address's host and port."""
    if address in ("auto", "local"):  # Ray's own lookup of a cluster on this machine, or a new local one
        return
    scheme, found, rest = address.partition("://")
    if found and scheme != "ray":
        return  # another connector's scheme (Ray resolves it through a plug-in): Ray says what is wrong
    target = (rest if found else address).rstrip("/")
    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        raise ConnectionError(f"{address!r} is not HOST:PORT (a head's GCS, e.g. 10.0.0.5:6379) or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port_text} ({exc.strerror or exc}); is the head "
                              "started (`ray start --head`) and the port right?") from None


def refusal(error: str, native: str) -> str:
    """Ray's error, with the reason its native client logged (the last one) and what to do about a token."""
    first = error.strip().splitlines()[0] if error.strip() else "Ray refused the connection"
    reasons = [m["reason"].strip() for m in _REASON.finditer(native)]
    if not reasons:
        return first
    reason = reasons[-1]
    hint = f"; {AUTH_HINT}" if "AuthToken" in reason or "Unauthenticated" in native else ""
    return f"{first}: {reason}{hint}"
