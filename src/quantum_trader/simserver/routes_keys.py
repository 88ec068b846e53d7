"""The account's API keys, as Binance's API management lets a user keep several: a rotation makes a new key for
the same account, moves the bot to it, then deletes the old one. Not part of Binance's API (a key is made in its
web pages): control paths, taking one of the account's keys in `X-MBX-APIKEY` like the others.

`POST /sim/v1/apiKeys {"apiKey": K, "secret": S}` adds a key (both trade the same account, its positions,
orders, income history and user stream); `DELETE /sim/v1/apiKeys {"apiKey": K}` deletes one, after which it
gets -2015 like any unknown key. The last key cannot be deleted (the account would be out of reach). Both answer
`{"apiKeys": N}`, how many the account has; no key or secret is ever answered.
"""

from __future__ import annotations

from typing import Any

from ..domain import binance_errors as be
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()


def _text(call: Call, name: str) -> str:
    body = call.json if isinstance(call.json, dict) else {}
    value = body.get(name)
    if value is None or value == "":
        raise be.mandatory_param(name)
    if not isinstance(value, str) or not value.isprintable() or " " in value:
        raise be.invalid_data_because(name, "a key and a secret are printable text without spaces")
    return value


@table.route("POST", "/sim/v1/apiKeys", Security.API_KEY)
def add_key(server: ServerState, call: Call) -> Any:
    """A new key for this account; an existing key is refused (its secret is not replaced)."""
    key, secret = _text(call, "apiKey"), _text(call, "secret")
    if key in server.keys:
        raise be.invalid_data_because("apiKey", "this key exists already")
    server.keys[key] = secret
    return {"apiKeys": len(server.keys)}


@table.route("DELETE", "/sim/v1/apiKeys", Security.API_KEY)
def delete_key(server: ServerState, call: Call) -> Any:
    """Delete a key: its requests get -2015 from now on. The last one stays."""
    key = _text(call, "apiKey")
    if key not in server.keys:
        raise be.invalid_api_key()
    if len(server.keys) == 1:
        raise be.invalid_data_because("apiKey", "the account's last key cannot be deleted")
    del server.keys[key]
    return {"apiKeys": len(server.keys)}
