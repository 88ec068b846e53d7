"""Finding an order by client id through the index gives exactly what a scan of every order gives.

`find_order`/`find_algo` answer from the newest order of each client id when it is open (the engine
reads back every stop it places; with hundreds of positions the scan was most of the read-back). A
seeded walk reuses a handful of client ids across symbols and order kinds, fills, cancels, triggers
stops (whose spawned orders carry the algo's client id) and prunes, and after every step compares
both lookups for every id ever used.
"""

from __future__ import annotations

import contextlib
import random

import pytest
from conftest import make_sim

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.domain.orders import AlgoOrder, Order
from quantum_trader.sim.cancel import find_algo, find_order
from quantum_trader.sim.engine import ExchangeSimulator

IDS = ("a", "b", "c")
SYMBOLS = ("BNBUSDT", "ETHUSDT")
LIMIT_AWAY = {"BNBUSDT": ("590", "610"), "ETHUSDT": ("2400", "2600")}
STOP_AT = {"BNBUSDT": ("598", "602"), "ETHUSDT": ("2490", "2510")}
QTY = {"BNBUSDT": "0.1", "ETHUSDT": "0.01"}


def _scan_order(sim: ExchangeSimulator, symbol: str, client_id: str) -> Order | None:
    matches = [o for o in sim.state.orders.values() if o.symbol == symbol and o.client_order_id == client_id]
    candidates = [o for o in matches if o.is_open] or matches
    return candidates[-1] if candidates else None


def _scan_algo(sim: ExchangeSimulator, client_id: str) -> AlgoOrder | None:
    matches = [a for a in sim.state.algos.values() if a.client_algo_id == client_id]
    candidates = [a for a in matches if a.is_open] or matches
    return candidates[-1] if candidates else None


def _step(sim: ExchangeSimulator, rng: random.Random) -> None:
    symbol, client_id, side = rng.choice(SYMBOLS), rng.choice(IDS), rng.choice(("BUY", "SELL"))
    below, above = LIMIT_AWAY[symbol]
    action = rng.randrange(7)
    if action == 0:
        sim.new_order({"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": QTY[symbol],
                       "price": below if side == "BUY" else above, "newClientOrderId": client_id})
    elif action == 1:
        sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "quantity": QTY[symbol],
                       "newClientOrderId": client_id})
    elif action == 2:
        low, high = STOP_AT[symbol]
        limit_kind = rng.random() < 0.5  # a stop-limit's spawned order rests open with the algo's client id
        params = {"symbol": symbol, "side": side, "type": "STOP" if limit_kind else "STOP_MARKET",
                  "algoType": "CONDITIONAL", "quantity": QTY[symbol], "clientAlgoId": client_id,
                  "triggerPrice": high if side == "BUY" else low}
        if limit_kind:
            params.update(price=above if side == "BUY" else below, timeInForce="GTC")
        sim.new_algo_order(params)
    elif action == 3:
        sim.cancel_order(symbol, client_order_id=client_id)
    elif action == 4:
        sim.cancel_algo_order(client_algo_id=client_id)
    elif action == 5:
        low, high = STOP_AT[symbol]
        base = (float(low) + float(high)) / 2
        sim.set_prices({symbol: f"{base * rng.uniform(0.99, 1.01):.2f}"})
    else:
        sim.state.prune_finished()


def _try_step(sim: ExchangeSimulator, rng: random.Random) -> None:
    """A refused request (a duplicate open id, an unknown order, margin) leaves state as it was: go on."""
    with contextlib.suppress(ExchangeError):
        _step(sim, rng)


@pytest.mark.parametrize("seed", range(6))
def test_indexed_lookup_equals_a_scan_of_every_order(seed: int) -> None:
    sim, rng = make_sim(), random.Random(seed)
    compared = 0
    for _ in range(300):
        _try_step(sim, rng)
        for client_id in IDS:
            assert find_algo(sim.state, None, client_id) is _scan_algo(sim, client_id)
            for symbol in SYMBOLS:
                assert find_order(sim.state, symbol, None, client_id) is _scan_order(sim, symbol, client_id)
                compared += 1
    assert compared == 300 * len(IDS) * len(SYMBOLS)


def test_the_walk_reaches_open_and_closed_orders_of_both_kinds() -> None:
    """The comparison above means something only if the walk makes every case it claims to."""
    sim, rng = make_sim(), random.Random(0)
    seen: set[str] = set()
    for _ in range(300):
        _try_step(sim, rng)
        for order in sim.state.orders.values():
            seen.add(f"order {'open' if order.is_open else 'closed'}")
        for algo in sim.state.algos.values():
            seen.add(f"algo {'open' if algo.is_open else 'closed'}")
            if algo.actual_order_id:
                seen.add("spawned")
    assert seen >= {"order open", "order closed", "algo open", "algo closed", "spawned"}
