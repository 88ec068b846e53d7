"""The small HTTP client the CLI commands use to talk to a running bot's API.

One place decides the default URL (QT_API_HOST / QT_API_PORT), adds the bearer token from
QT_API_TOKEN, and turns every transport or HTTP failure into one `ApiError` line, so each command
can print it to stderr and exit 1 without a traceback. The token is never part of an error message.

A bot that took the request and did not answer in time is not a bot that cannot be reached: the first
is running (busy: a kill switch flattening against a slow exchange), the second may not be. Telling a
user "is it running?" about the first invites them to kill the bot mid-flatten, so a read timeout is its
own error, `ApiTimeout`, and a caller may give a long request its own `timeout_s`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a command calls the API: building the command line does not pay for it
    import httpx

JSON = dict[str, Any]
TIMEOUT_S = 10.0


class ApiError(Exception):
    """A failure talking to the bot's API, phrased for one line on stderr."""


class ApiTimeout(ApiError):
    """The bot accepted the connection and the request but did not answer within `timeout_s` seconds."""

    def __init__(self, method: str, base_url: str, path: str, timeout_s: float) -> None:
        self.method, self.path, self.timeout_s = method, path, timeout_s
        super().__init__(f"{method} {path}: the bot's API at {base_url} accepted the request but did not answer "
                         f"within {timeout_s:g} s; it is running but busy")


def default_api_url() -> str:
    host = os.environ.get("QT_API_HOST", "127.0.0.1").strip() or "127.0.0.1"
    port = os.environ.get("QT_API_PORT", "8000").strip() or "8000"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{port}"


def _headers() -> dict[str, str]:
    token = os.environ.get("QT_API_TOKEN", "").strip()
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _send(method: str, base_url: str, path: str, body: JSON | None = None, *,
          timeout_s: float | None = None) -> httpx.Response:
    import httpx

    if "://" not in base_url:  # httpx's "UnsupportedProtocol" said nothing of the fix
        raise ApiError(f"--api {base_url}: not a URL; did you mean http://{base_url}?")
    url = base_url.rstrip("/") + path
    timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
    try:
        return httpx.request(method, url, json=body, headers=_headers(), timeout=timeout_s)
    except httpx.ReadTimeout:  # connected and sent: the bot has the request, it has not answered yet
        raise ApiTimeout(method, base_url, path, timeout_s) from None
    except httpx.TransportError as exc:
        raise ApiError(f"cannot reach the bot's API at {base_url} ({type(exc).__name__}: {exc}); "
                       "is `quantum-trader run` running? set --api or QT_API_HOST/QT_API_PORT") from None


def _decode(response: httpx.Response) -> JSON:
    try:
        body = response.json()
    except ValueError:
        raise ApiError(f"{response.request.url.path}: HTTP {response.status_code}, not a JSON answer") from None
    if not isinstance(body, dict):
        raise ApiError(f"{response.request.url.path}: unexpected answer (not a JSON object)")
    return body


def get_json(base_url: str, path: str) -> JSON:
    """GET a read endpoint; any non-2xx status is an error (a bot with QT_API_TOKEN wants it on reads too)."""
    response = _send("GET", base_url, path)
    if response.status_code >= 400:
        raise ApiError(f"GET {path}: HTTP {response.status_code} {_detail(response)}{_hint(response, base_url)}"
                       .rstrip())
    return _decode(response)


def post_json(base_url: str, path: str, body: JSON | None = None, *, ok: tuple[int, ...] = (200,),
              timeout_s: float | None = None) -> tuple[int, JSON]:
    """POST to a mutating endpoint; statuses in `ok` return their body, others raise with the reason.
    `ApiTimeout` if the bot took the request but did not answer within `timeout_s` (default `TIMEOUT_S`)."""
    response = _send("POST", base_url, path, body, timeout_s=timeout_s)
    if response.status_code not in ok:
        raise ApiError(f"POST {path}: HTTP {response.status_code} {_detail(response)}{_hint(response, base_url)}"
                       .rstrip())
    return response.status_code, _decode(response)


def _hint(response: httpx.Response, base_url: str) -> str:
    """The fix for the statuses a user causes: a token that is missing or not the bot's; a URL that is not the
    bot's API (every path the commands ask exists there: FastAPI's "Not Found" means another server)."""
    if response.status_code in (401, 403):
        if os.environ.get("QT_API_TOKEN", "").strip():
            return " (QT_API_TOKEN is set, but not to the token the bot was started with)"
        return " (set QT_API_TOKEN to the bot's token)"
    if response.status_code == 404 and _detail(response) in ("", "Not Found"):
        return (f" ({base_url} is not a Quantum Trader bot's API: give --api the URL `quantum-trader run` serves, "
                "http://$QT_API_HOST:$QT_API_PORT, 127.0.0.1:8000 by default)")
    return ""


def is_bot_api(base_url: str, timeout_s: float = 2.0) -> bool:
    """Whether a bot's API answers at `base_url` (its /health names `event_driven`): to tell a user who gave it
    where an exchange was wanted."""
    import httpx

    try:
        body = httpx.get(base_url.rstrip("/") + "/health", timeout=timeout_s).json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(body, dict) and "event_driven" in body


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors: name the fields
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in detail)
    return str(detail or body.get("reason", "") if isinstance(body, dict) else "")
