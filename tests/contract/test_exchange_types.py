"""The port's value types and helpers: client ids, intents, wire parameters, error translation."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.domain.enums import OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.errors import ExchangeError, OrderRejected, RetryableExchangeError
from quantum_trader.domain.exchange_types import CLIENT_ID_PATTERN, OrderIntent
from quantum_trader.exchange.ccxt_errors import TransientExchangeError, translate
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.retry import RetryPolicy
from quantum_trader.exchange.wire import intent_params


def test_client_ids_are_deterministic_and_distinct() -> None:
    assert client_id_for("T42", "sl", 0) == client_id_for("T42", "sl", 0) == "qt-T42-sl-0"
    ids = {client_id_for(t, p, a) for t in ("T1", "T2") for p in ("entry", "sl", "tp") for a in (0, 1)}
    assert len(ids) == 12


@given(st.text(max_size=80), st.sampled_from(["entry", "sl", "tp", "exit", "emerg_1"]), st.integers(0, 9999))
def test_client_ids_always_fit_binance_rules(trade: str, purpose: str, attempt: int) -> None:
    client_id = client_id_for(trade, purpose, attempt)
    assert CLIENT_ID_PATTERN.match(client_id) and len(client_id) <= 36
    assert client_id.endswith(f"-{purpose}-{attempt}")


def test_unsafe_or_long_trade_ids_are_hashed_not_mangled() -> None:
    assert client_id_for("a b", "sl") != client_id_for("a_b", "sl")
    long_id = "x" * 60
    assert client_id_for(long_id, "sl") != client_id_for(long_id + "y", "sl")


@pytest.mark.parametrize(("purpose", "attempt"), [("", 0), ("stop-loss", 0), ("toolongpurpose", 0), ("sl", -1)])
def test_bad_purpose_or_attempt_is_refused(purpose: str, attempt: int) -> None:
    with pytest.raises(ValueError, match=r"purpose|attempt"):
        client_id_for("T1", purpose, attempt)


def test_intents_refuse_ids_binance_would_reject_and_nonpositive_quantities() -> None:
    with pytest.raises(ValueError, match="client_id"):
        OrderIntent(client_id="has space", symbol="BNBUSDT", side=Side.BUY, type=OrderType.MARKET)
    with pytest.raises(ValueError, match="quantity"):
        OrderIntent(client_id="ok", symbol="BNBUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(0))


def test_conditional_intents_become_algo_parameters() -> None:
    stop = OrderIntent(client_id="qt-T1-sl-0", symbol="BNBUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                       trigger_price=Decimal("570.10"), close_position=True, working_type=WorkingType.MARK_PRICE)
    assert intent_params(stop) == {
        "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET", "newOrderRespType": "RESULT",
        "algoType": "CONDITIONAL", "clientAlgoId": "qt-T1-sl-0", "workingType": "MARK_PRICE",
        "priceProtect": "false", "triggerPrice": "570.1", "closePosition": "true",
    }
    limit = OrderIntent(client_id="qt-T1-entry-0", symbol="BNBUSDT", side=Side.BUY, type=OrderType.LIMIT,
                        quantity=Decimal("0.10"), price=Decimal("590.00"), time_in_force=TimeInForce.GTC,
                        reduce_only=True)
    assert intent_params(limit) == {
        "symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "newOrderRespType": "RESULT", "quantity": "0.1",
        "price": "590", "timeInForce": "GTC", "reduceOnly": "true", "newClientOrderId": "qt-T1-entry-0",
    }


def test_ccxt_errors_keep_binance_codes() -> None:
    rejected = translate(ccxt.ExchangeError('binanceusdm {"code":-2021,"msg":"Order would immediately trigger."}'))
    assert type(rejected) is OrderRejected and (rejected.code, rejected.msg) == (-2021,
                                                                                 "Order would immediately trigger.")
    limited = translate(ccxt.DDoSProtection('binanceusdm 429 Too Many Requests {"code":-1003,"msg":"slow"}'),
                        {"Retry-After": "3"})
    assert isinstance(limited, TransientExchangeError) and (limited.code, limited.retry_after) == (-1003, 3.0)
    timeout = translate(ccxt.RequestTimeout("binanceusdm POST http://127.0.0.1/fapi/v1/order"))
    assert isinstance(timeout, TransientExchangeError) and timeout.retry_after is None
    unavailable = translate(ccxt.ExchangeNotAvailable("binanceusdm 503 <html>"))
    assert isinstance(unavailable, RetryableExchangeError)
    auth = translate(ccxt.AuthenticationError('binanceusdm {"code":-2015,"msg":"Invalid API-key."}'))
    assert type(auth) is ExchangeError and auth.code == -2015
    busy = translate(ccxt.ExchangeError('binanceusdm {"code":-1007,"msg":"Timeout waiting for response"}'))
    assert isinstance(busy, RetryableExchangeError)


def test_backoff_is_exponential_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    plain = RetryableExchangeError(-1001, "disconnected")
    assert [policy.delay(n, plain) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(0, TransientExchangeError(-1003, "slow", 429, retry_after=2.0)) == 2.0


def test_a_trailing_newline_is_not_a_valid_id() -> None:
    """`$` also matches before a final newline: "T1\\n" passed as a safe trade id and made a client id
    Binance refuses (hypothesis found it); the patterns end at `\\Z` now."""
    assert "\n" not in client_id_for("T1\n", "sl")
    assert client_id_for("T1\n", "sl") != client_id_for("T1", "sl")
    assert CLIENT_ID_PATTERN.match("qt-T1-sl-0\n") is None
    with pytest.raises(ValueError, match="client_id"):
        OrderIntent(client_id="qt-T1-sl-0\n", symbol="BNBUSDT", side=Side.BUY, type=OrderType.MARKET)
