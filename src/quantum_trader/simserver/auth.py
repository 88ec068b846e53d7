"""Binance request authentication, as pure functions over the raw request (binance_futures.md §5.1-5.3).

Signatures are checked over the bytes exactly as they arrived: ccxt percent-encodes values in its own
order and python-binance sorts and quotes only some of them, so re-encoding parsed parameters would
reject valid requests from one client or the other. Nothing here knows about HTTP frameworks, so the
rules can be unit-tested with Binance's published test vector.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl

from ..domain import binance_errors as be
from ..domain.errors import ExchangeError
from ..sim.params import integer_text

API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS = 5000
#: Binance rejects timestamps this far (or further) ahead of its clock.
FUTURE_TOLERANCE_MS = 1000
_SIGNATURE = b"signature"


def sign(secret: str, payload: bytes | str) -> str:
    """Hex HMAC-SHA256 of `payload` under `secret`: what a client appends as `signature`."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def split_signature(raw: bytes) -> tuple[bytes, str | None]:
    """`raw` without its `signature=...` pair (kept byte for byte otherwise) and the signature value.

    Binance wants the signature last, but a stray one elsewhere is still removed rather than signed.
    """
    kept: list[bytes] = []
    found: str | None = None
    for pair in raw.split(b"&") if raw else []:
        name, _, value = pair.partition(b"=")
        if name == _SIGNATURE:
            found = value.decode("latin-1")
        else:
            kept.append(pair)
    return b"&".join(kept), found


def signed_payload(query: bytes, body: bytes) -> tuple[bytes, str | None]:
    """totalParams (query then body, no separator, signature removed) and the signature sent, if any."""
    query_rest, query_sig = split_signature(query)
    body_rest, body_sig = split_signature(body)
    return query_rest + body_rest, query_sig if query_sig is not None else body_sig


def merge_params(query: bytes, body: bytes) -> dict[str, str]:
    """Parameters from the query string and a form body; a name in both takes the query's value.

    Values stay strings ("true", "True", "0.001"): the simulator parses them as Binance does.
    """
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params.update(parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True))
    params.pop("signature", None)
    return params


#: What -2014 adds on the simulator's own paths (Binance's paths answer its words alone): a user who ran
#: `curl /sim/v1/info` as the README listed it got "API-key format invalid." and no hint of which key.
CONTROL_KEY_HINT = (" The simulator's control endpoints (/sim/v1/...) take the trading API key: send the header "
                    f"{API_KEY_HEADER} with the server's --api-key (sim-key unless it was started with another).")


def check_api_key(headers: Mapping[str, str], api_key: str | Collection[str], *, control: bool = False) -> str:
    """The key sent, if it is `api_key` (or one of them: an account may have several, binance_futures.md §5.1);
    -2014 when the header is missing or empty (on a `control` path, saying which header and key), -2015 when it
    names another key."""
    sent = headers.get(API_KEY_HEADER) or headers.get(API_KEY_HEADER.lower())
    if not sent:
        missing = be.api_key_format_invalid()
        if control:
            raise ExchangeError(missing.code, missing.msg + CONTROL_KEY_HINT, missing.http_status)
        raise missing
    accepted = (api_key,) if isinstance(api_key, str) else api_key
    if not any(hmac.compare_digest(sent.encode(), key.encode()) for key in accepted):
        raise be.invalid_api_key()
    return sent


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    """None when absent or empty; -1100 unless spelled `^[0-9]{1,20}$` (no sign, space or exponent)."""
    value = params.get(name)
    if not value:
        return None
    return integer_text(value, name)


def check_timestamp(params: Mapping[str, str], server_time_ms: int) -> None:
    """Accept iff timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow (§5.3)."""
    timestamp = _int_param(params, "timestamp")
    if timestamp is None:
        raise be.mandatory_param("timestamp")
    recv_window = _int_param(params, "recvWindow")
    window = DEFAULT_RECV_WINDOW_MS if recv_window is None else recv_window
    if timestamp >= server_time_ms + FUTURE_TOLERANCE_MS:
        raise be.timestamp_ahead()
    if server_time_ms - timestamp > window:
        raise be.timestamp_outside_recv_window()


def check_signature(query: bytes, body: bytes, secret: str) -> None:
    """-1102 without a signature, -1022 when it does not match (hex compared case-insensitively)."""
    payload, signature = signed_payload(query, body)
    if not signature:
        raise be.mandatory_param("signature")
    if not hmac.compare_digest(signature.lower().encode(), sign(secret, payload).encode()):
        raise be.bad_signature()


def authenticate_signed(headers: Mapping[str, str], query: bytes, body: bytes, *, api_key: str | Mapping[str, str],
                        api_secret: str = "", server_time_ms: int) -> dict[str, str]:
    """Every check a TRADE/USER_DATA request passes, in Binance's order; returns its merged params. `api_key`: the
    one key (with `api_secret`), or every key of the account with its secret."""
    keys = {api_key: api_secret} if isinstance(api_key, str) else api_key
    sent = check_api_key(headers, keys)
    params = merge_params(query, body)
    check_timestamp(params, server_time_ms)
    check_signature(query, body, keys[sent])
    return params
