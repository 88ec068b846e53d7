"""Chaos control of the websockets, not part of Binance: drop or stall streams on purpose.

`POST /sim/v1/streams {"action": "drop"|"stall", "seconds": N, "kind": "all"|"market"|"user"}`:
- `drop` closes the chosen connections now (code 1011, after discarding what was queued) and refuses
  new websocket handshakes for `seconds` (0: reconnecting works at once, ending an earlier drop's outage; a
  shorter drop inside a longer one leaves the longer), like a network outage;
- `stall` keeps the chosen connections open but sends them nothing for `seconds` (what would have been
  sent is lost), like a half-open TCP connection: a client notices only by its own heartbeat timeout.
  Connections opened during the stall are not affected, so a client that reconnects recovers.
- `expire_listen_key` makes the current listen key expire now, exactly as 60 minutes without a keep-alive
  do: its user streams get `listenKeyExpired` and are closed, a PUT keep-alive answers -1125 and a POST
  creates a new key (`seconds` and `kind` are not used; `kind` answers "user").
Answers `{"action", "seconds", "kind", "connections": <how many were affected>}`.
`GET /sim/v1/streams` describes the open connections. Same API key header as the other control routes.
"""

from __future__ import annotations

from typing import Any

from ..domain import binance_errors as be
from ..domain.money import to_decimal
from .routes_base import Call, RouteTable, Security, ServerState
from .stream_hub import StreamHub

table = RouteTable()
CONTROL = Security.API_KEY
EXPIRE = "expire_listen_key"
_ACTIONS = ("drop", "stall", EXPIRE)
_KINDS = ("all", "market", "user")
#: A stall or an outage longer than a day is a typo, not a test.
_MAX_SECONDS = 86_400


def _hub(server: ServerState) -> StreamHub:
    if server.streams is None:
        raise be.invalid_data("streams")
    return server.streams


@table.route("POST", "/sim/v1/streams", CONTROL)
def control_streams(server: ServerState, call: Call) -> Any:
    body = call.json if isinstance(call.json, dict) else {}
    action = body.get("action")
    if action is None:
        raise be.mandatory_param("action")
    if action not in _ACTIONS:
        raise be.invalid_data("action")
    kind = body.get("kind", "all")
    if kind not in _KINDS:
        raise be.invalid_data("kind")
    try:
        seconds = to_decimal(body.get("seconds", 0), "seconds")
    except ValueError:
        raise be.invalid_data("seconds") from None
    if seconds < 0 or seconds > _MAX_SECONDS:
        raise be.invalid_data("seconds")
    if action == EXPIRE:
        return {"action": action, "seconds": 0.0, "kind": "user", "connections": _hub(server).expire_listen_key()}
    affected = _hub(server).control(action, float(seconds), kind)
    return {"action": action, "seconds": float(seconds), "kind": kind, "connections": affected}


@table.route("GET", "/sim/v1/streams", CONTROL)
def describe_streams(server: ServerState, call: Call) -> Any:
    return _hub(server).describe()
