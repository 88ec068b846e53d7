"""`PriceUpdate.check`: what a market step may set, against the symbol's real PRICE_FILTER (BNBUSDT:
minPrice 6.6, maxPrice 100000, tick 0.01). Used by the server's control step before anything moves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.sim.market import PriceUpdate
from quantum_trader.sim.universe import load_universe

D = Decimal
BNB = load_universe().instrument("BNBUSDT")


@pytest.mark.parametrize(("update", "field", "why"), [
    (PriceUpdate(D("1E+400"), D("600")), "last", "above BNBUSDT's maxPrice 100000"),
    (PriceUpdate(D("1E-400"), D("600")), "last", "below BNBUSDT's minPrice 6.6"),
    (PriceUpdate(D("-600"), D("600")), "last", "not a positive finite price"),
    (PriceUpdate(D("0"), D("600")), "last", "not a positive finite price"),
    (PriceUpdate(D("NaN"), D("600")), "last", "not a positive finite price"),
    (PriceUpdate(D("Infinity"), D("600")), "last", "not a positive finite price"),
    (PriceUpdate(D("600.001"), D("600")), "last", "not a multiple of BNBUSDT's tickSize 0.01"),
    (PriceUpdate(D("600"), D("100000.01")), "mark", "above BNBUSDT's maxPrice 100000"),
    (PriceUpdate(D("600"), D("6.59")), "mark", "below BNBUSDT's minPrice 6.6"),
])
def test_a_step_outside_the_price_filter_is_refused_naming_symbol_and_field(
        update: PriceUpdate, field: str, why: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        update.check(BNB, "prices.BNBUSDT")
    assert caught.value.code == -1130 and caught.value.http_status == 400
    assert f"'prices.BNBUSDT.{field}'" in caught.value.msg and why in caught.value.msg


@pytest.mark.parametrize("update", [PriceUpdate(D("600"), D("600")), PriceUpdate(D("6.6"), None),
                                    PriceUpdate(D("100000"), D("99999.123456")),  # a mark finer than the tick
                                    PriceUpdate(D("600.010"), D("600"))])
def test_steps_inside_the_filter_pass(update: PriceUpdate) -> None:
    update.check(BNB, "prices.BNBUSDT")
