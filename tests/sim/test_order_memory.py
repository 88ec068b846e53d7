"""Binance no longer finds an order that ended CANCELED or EXPIRED without a fill 3 days after it was made, nor
any finished order 90 days after (binance_futures.md §6.1); the simulator forgets them the same way, by id and by
client id, and never an open order."""

from __future__ import annotations

import random

import pytest
from conftest import make_sim

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.order_memory import ANY_KEPT_MS, FORGET_EVERY_MS, UNFILLED_KEPT_MS, forgotten

HOUR_S = FORGET_EVERY_MS / 1000


def limit(sim: ExchangeSimulator, client_id: str, price: str = "590") -> int:
    order = sim.new_order({"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                           "quantity": "0.1", "price": price, "newClientOrderId": client_id})
    return order.order_id


def found(sim: ExchangeSimulator, order_id: int, client_id: str) -> tuple[bool, bool]:
    """Whether GET /fapi/v1/order finds it by id and by client id (not found is Binance's -2013, nothing else)."""
    codes: list[int | None] = []
    for key in ({"order_id": order_id}, {"client_order_id": client_id}):
        try:
            sim.query_order("BNBUSDT", **key)  # type: ignore[arg-type]
            codes.append(None)
        except ExchangeError as exc:
            codes.append(exc.code)
    assert set(codes) <= {None, -2013}, codes
    return codes[0] is None, codes[1] is None


def test_a_cancelled_order_without_a_fill_is_forgotten_after_3_days_an_open_one_never() -> None:
    sim = make_sim()
    cancelled, resting = limit(sim, "gone"), limit(sim, "resting", "580")
    sim.cancel_order("BNBUSDT", order_id=cancelled)
    sim.advance(UNFILLED_KEPT_MS / 1000 - HOUR_S)
    assert found(sim, cancelled, "gone") == (True, True)
    sim.advance(2 * HOUR_S)
    assert found(sim, cancelled, "gone") == (False, False)
    sim.advance(ANY_KEPT_MS / 1000)
    assert found(sim, resting, "resting") == (True, True)
    assert [o.order_id for o in sim.open_orders("BNBUSDT")] == [resting]


def test_a_filled_order_is_kept_90_days() -> None:
    sim = make_sim()
    order = sim.new_order({"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1",
                           "newClientOrderId": "entry"})
    sim.advance(ANY_KEPT_MS / 1000 - HOUR_S)
    assert found(sim, order.order_id, "entry") == (True, True)
    sim.advance(2 * HOUR_S)
    assert found(sim, order.order_id, "entry") == (False, False)


@pytest.mark.parametrize("by_set_time", [False, True])
def test_forgetting_follows_every_way_the_clock_moves(by_set_time: bool) -> None:
    sim = make_sim()
    cancelled = limit(sim, "gone")
    sim.cancel_order("BNBUSDT", order_id=cancelled)
    later = sim.now_ms + UNFILLED_KEPT_MS + FORGET_EVERY_MS
    if by_set_time:
        sim.set_time(later)
    else:
        sim.advance((later - sim.now_ms) / 1000)
    assert cancelled not in sim.state.orders


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_hourly_look_keeps_no_order_binance_would_not_find_whatever_became_of_it(seed: int) -> None:
    """A look remembers when the next order could be forgotten and skips the looks before: an order resting at a
    look and cancelled later is still forgotten 3 days after it was made, a filled one after 90."""
    rng = random.Random(seed)
    sim = make_sim()
    made: list[int] = []
    for hour in range(24 * 100):
        roll = rng.random()
        if roll < 0.04:
            made.append(limit(sim, f"rest-{hour}", "580"))
        elif roll < 0.06:
            made.append(sim.new_order({"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1",
                                       "newClientOrderId": f"take-{hour}"}).order_id)
        elif roll < 0.10 and sim.open_orders("BNBUSDT"):
            sim.cancel_order("BNBUSDT", order_id=rng.choice(sim.open_orders("BNBUSDT")).order_id)
        sim.advance(HOUR_S)  # an hour: every step is a look
        kept = sim.state.orders.values()
        assert not [o.client_order_id for o in kept if forgotten(o, sim.now_ms)], hour
    assert len(sim.state.orders) < len(made)  # some were forgotten: the check above compared something
