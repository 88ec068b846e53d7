"""auth.py as pure functions: Binance's published HMAC vector, raw-byte signing, the time window."""

from __future__ import annotations

import pytest

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.simserver import auth

# binance_futures.md §5.2, Binance general-info example 1.
VECTOR_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
VECTOR_PAYLOAD = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
                  "&recvWindow=5000&timestamp=1591702613943")
VECTOR_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_binance_test_vector() -> None:
    assert auth.sign(VECTOR_SECRET, VECTOR_PAYLOAD) == VECTOR_SIGNATURE


@pytest.mark.parametrize(("query", "body"), [
    (f"{VECTOR_PAYLOAD}&signature={VECTOR_SIGNATURE}".encode(), b""),
    (b"", f"{VECTOR_PAYLOAD}&signature={VECTOR_SIGNATURE}".encode()),
    (b"symbol=BTCUSDT&side=BUY&type=LIMIT",
     f"&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943&signature={VECTOR_SIGNATURE}"
     .encode()),
    (f"{VECTOR_PAYLOAD}&signature={VECTOR_SIGNATURE.upper()}".encode(), b""),
])
def test_signature_accepted_in_query_body_or_mixed(query: bytes, body: bytes) -> None:
    auth.check_signature(query, body, VECTOR_SECRET)


def test_signature_is_over_raw_bytes_not_re_encoded_params() -> None:
    raw = b"timestamp=1&clientAlgoId=a%2Fb&price=1.50"
    signed = raw + b"&signature=" + auth.sign("s", raw).encode()
    auth.check_signature(signed, b"", "s")
    with pytest.raises(ExchangeError) as caught:  # the same params encoded differently no longer match
        auth.check_signature(b"timestamp=1&clientAlgoId=a/b&price=1.50&signature=" + auth.sign("s", raw).encode(),
                             b"", "s")
    assert caught.value.code == -1022


def test_missing_and_wrong_signature() -> None:
    with pytest.raises(ExchangeError) as missing:
        auth.check_signature(VECTOR_PAYLOAD.encode(), b"", VECTOR_SECRET)
    assert missing.value.code == -1102
    with pytest.raises(ExchangeError) as wrong:
        auth.check_signature(f"{VECTOR_PAYLOAD}&signature={'0' * 64}".encode(), b"", VECTOR_SECRET)
    assert wrong.value.code == -1022


def test_params_merge_query_wins_and_booleans_stay_strings() -> None:
    params = auth.merge_params(b"symbol=BNBUSDT&closePosition=True&signature=x", b"symbol=ETHUSDT&side=SELL")
    assert params == {"symbol": "BNBUSDT", "closePosition": "True", "side": "SELL"}


@pytest.mark.parametrize(("timestamp", "recv_window", "code", "text"), [
    (10_000, None, None, ""),
    (10_999, None, None, ""),
    (11_000, None, -1021, "ahead"),
    (5_000, None, None, ""),
    (4_999, None, -1021, "outside of the recvWindow"),
    (1_000, 9_000, None, ""),
    (999, 9_000, -1021, "outside of the recvWindow"),
])
def test_timestamp_window(timestamp: int, recv_window: int | None, code: int | None, text: str) -> None:
    params = {"timestamp": str(timestamp)} | ({"recvWindow": str(recv_window)} if recv_window else {})
    if code is None:
        auth.check_timestamp(params, 10_000)
        return
    with pytest.raises(ExchangeError) as caught:
        auth.check_timestamp(params, 10_000)
    assert caught.value.code == code and text in caught.value.msg


def test_missing_timestamp_and_api_key() -> None:
    with pytest.raises(ExchangeError) as no_ts:
        auth.check_timestamp({}, 10_000)
    assert no_ts.value.code == -1102
    with pytest.raises(ExchangeError) as no_key:
        auth.check_api_key({}, "k")
    assert no_key.value.code == -2014
    with pytest.raises(ExchangeError) as bad_key:
        auth.check_api_key({"X-MBX-APIKEY": "other"}, "k")
    assert (bad_key.value.code, bad_key.value.http_status) == (-2015, 401)
