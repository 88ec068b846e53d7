"""Numeric parameters are spelled Binance's way or refused with -1100, one row per bad spelling.

Python's `Decimal()` and `int()` accept exponents, underscores, other scripts' digits, signs and
surrounding spaces; Binance accepts `^([0-9]{1,20})(\\.[0-9]{1,20})?$` for decimals and `^[0-9]{1,20}$`
for integers. A client that sends `str(0.00001)` (`1e-05`) must fail here as it would live.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from conftest import snapshot

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.params import (
    DECIMAL_PATTERN,
    INTEGER_PATTERN,
    check_numeric_params,
    decimal_text,
    integer_text,
    param_int,
    parse_decimal,
)
from quantum_trader.simserver.auth import check_timestamp

BAD_DECIMALS = [
    pytest.param("1E-2", id="exponent-upper"),
    pytest.param("1e3", id="exponent-lower"),
    pytest.param("1_000", id="underscore"),
    pytest.param("١٠", id="arabic-indic-digits"),
    pytest.param("１", id="fullwidth-digit"),
    pytest.param(" 1", id="leading-space"),
    pytest.param("1 ", id="trailing-space"),
    pytest.param("1\n", id="trailing-newline"),
    pytest.param("+1", id="plus-sign"),
    pytest.param("-1", id="negative"),
    pytest.param("1.", id="trailing-dot"),
    pytest.param(".5", id="leading-dot"),
    pytest.param("NaN", id="nan"),
    pytest.param("Infinity", id="infinity"),
    pytest.param("inf", id="inf"),
    pytest.param("1" * 21, id="21-digits"),
    pytest.param("1." + "1" * 21, id="21-decimals"),
    pytest.param("0x10", id="hex"),
    pytest.param("1,5", id="comma"),
]
BAD_INTEGERS = [
    *(p for p in BAD_DECIMALS if p.id not in ("trailing-dot", "leading-dot")),
    pytest.param("1.0", id="decimal-point"),
    pytest.param("1.", id="trailing-dot"),
]
GOOD_DECIMALS = [("0", Decimal(0)), ("0.01", Decimal("0.01")), ("1000", Decimal(1000)),
                 ("00012.50", Decimal("12.50")), ("9" * 20 + "." + "9" * 20, Decimal("9" * 20 + "." + "9" * 20))]


def _illegal(name: str, pattern: str) -> str:
    return f"Illegal characters found in parameter '{name}'; legal range is '{pattern}'."


@pytest.mark.parametrize("raw", BAD_DECIMALS)
def test_bad_decimal_spelling_is_1100(raw: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        parse_decimal({"quantity": raw}, "quantity")
    assert (caught.value.code, caught.value.msg, caught.value.http_status) == (
        -1100, _illegal("quantity", DECIMAL_PATTERN), 400)


@pytest.mark.parametrize("raw", BAD_INTEGERS)
@pytest.mark.parametrize("name", ["timestamp", "recvWindow", "orderId", "limit", "startTime", "leverage"])
def test_bad_integer_spelling_is_1100(name: str, raw: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        check_numeric_params({"symbol": "BNBUSDT", name: raw})
    assert (caught.value.code, caught.value.msg) == (-1100, _illegal(name, INTEGER_PATTERN))
    with pytest.raises(ExchangeError):
        param_int({name: raw}, name)


@pytest.mark.parametrize(("raw", "value"), GOOD_DECIMALS)
def test_plain_decimals_pass(raw: str, value: Decimal) -> None:
    assert decimal_text(raw, "price") == value
    assert parse_decimal({"price": raw}, "price") == value


def test_plain_integers_pass_and_empty_means_absent() -> None:
    assert integer_text("1800000000000", "timestamp") == 1_800_000_000_000
    assert integer_text("9" * 20, "orderId") == int("9" * 20)
    assert param_int({"limit": ""}, "limit") is None
    assert parse_decimal({"quantity": ""}, "quantity") is None
    check_numeric_params({"quantity": "", "symbol": "1E-2", "newClientOrderId": "1_000"})  # not numeric names


@pytest.mark.parametrize("raw", BAD_INTEGERS)
def test_timestamp_and_recv_window_spelling(raw: str) -> None:
    """The signed-request check reads timestamp and recvWindow with the same integer rule."""
    for params in ({"timestamp": raw}, {"timestamp": "10000", "recvWindow": raw}):
        with pytest.raises(ExchangeError) as caught:
            check_timestamp(params, 10_000)
        assert caught.value.code == -1100


@pytest.mark.parametrize("raw", BAD_DECIMALS)
@pytest.mark.parametrize("field", ["quantity", "price"])
def test_order_with_bad_spelling_is_refused_and_changes_nothing(sim: ExchangeSimulator, field: str, raw: str) -> None:
    """Through the simulator's own order entry (the in-process paper path parses the same way)."""
    params: dict[str, Any] = {"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                              "quantity": "0.01", "price": "590", field: raw}
    before = snapshot(sim)
    with pytest.raises(ExchangeError) as caught:
        sim.new_order(params)
    assert (caught.value.code, caught.value.msg) == (-1100, _illegal(field, DECIMAL_PATTERN))
    assert snapshot(sim) == before


@pytest.mark.parametrize(("field", "raw"), [("triggerPrice", "5.7e2"), ("goodTillDate", "1e12"),
                                            ("quantity", "٠٫٥")])
def test_algo_order_fields_are_checked_too(sim: ExchangeSimulator, field: str, raw: str) -> None:
    params = {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
              "triggerPrice": "570", "quantity": "0.01", field: raw}
    with pytest.raises(ExchangeError) as caught:
        sim.new_algo_order(params)
    assert caught.value.code == -1100 and f"'{field}'" in caught.value.msg


def test_the_plain_spelling_of_the_same_order_is_accepted(sim: ExchangeSimulator) -> None:
    """The rows above fail on spelling alone: the same order spelled plainly rests."""
    order = sim.new_order({"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                           "quantity": "0.01", "price": "590"})
    assert order.price == Decimal("590") and order.orig_qty == Decimal("0.01")
