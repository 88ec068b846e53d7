"""A bar on a symbol with nothing resting (no position, open order or algo order) lands on each price of its path
without looking for levels or settling (stepping.rests_nothing): the same prices, marks, volatility and so the
same fills, events and account afterwards as the full walk, whatever was traded before or on other symbols."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from conftest import D, algo, limit, make_sim, market

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.sim import stepping
from quantum_trader.sim.engine import ExchangeSimulator

SYMBOLS = ("BNBUSDT", "ETHUSDT")
TICKS = {"BNBUSDT": D("0.01"), "ETHUSDT": D("0.01")}


def _bar(rng: random.Random, last: Decimal, tick: Decimal) -> tuple[Decimal, ...]:
    def ticks(n: float) -> Decimal:
        return (Decimal(round(n / float(tick))) * tick).quantize(tick)

    o = last + ticks(rng.uniform(-0.3, 0.3)) if rng.random() < 0.3 else last
    c = o + ticks(rng.uniform(-4, 4))
    h, lo = max(o, c) + ticks(rng.uniform(0, 2)), min(o, c) - ticks(rng.uniform(0, 2))
    return o, h, lo, c


def _session(seed: int) -> tuple[list[object], ...]:
    """Bars and orders at random on two symbols (entries, stops, take-profits, resting limits, cancels), the state
    read after every bar."""
    rng, sim = random.Random(seed), make_sim()
    for symbol in SYMBOLS:  # liquidations in reach of a bar's range: a position alone must stop the fast path
        sim.set_margin_type(symbol, "ISOLATED")
        sim.set_leverage(symbol, 75)
    seen: list[object] = []
    for _ in range(400):
        symbol = rng.choice(SYMBOLS)
        last = sim.state.market(symbol).last
        roll = rng.random()
        try:
            held = [p for p in sim.account.open_positions() if p.symbol == symbol]
            if roll < 0.06 and not held:
                market(sim, rng.choice(("BUY", "SELL")), "2" if symbol == "BNBUSDT" else "0.4", symbol)
            elif roll < 0.12 and held:  # flat again: most bars of a session are on a flat symbol
                market(sim, "SELL" if held[0].amount > 0 else "BUY", str(abs(held[0].amount)), symbol)
            elif roll < 0.16:
                side = rng.choice(("BUY", "SELL"))
                away = D("3") if side == "SELL" else D("-3")
                algo(sim, symbol=symbol, side=side, triggerPrice=str(last + away), closePosition="true",
                     workingType="MARK_PRICE")
            elif roll < 0.19 and not held:  # a stop entry: an algo order resting on a flat symbol
                side = rng.choice(("BUY", "SELL"))
                away = D("3") if side == "BUY" else D("-3")
                algo(sim, symbol=symbol, side=side, triggerPrice=str(last + away),
                     quantity="0.5" if symbol == "BNBUSDT" else "0.1")
            elif roll < 0.22:
                limit(sim, "BUY", "0.2" if symbol == "BNBUSDT" else "0.05", str(last - D("2")), symbol,
                      timeInForce="GTC")
            elif roll < 0.26 and sim.open_orders(symbol):
                sim.cancel_order(symbol, order_id=sim.open_orders(symbol)[0].order_id)
            elif roll < 0.30 and sim.open_algo_orders(symbol):
                sim.cancel_algo_order(algo_id=sim.open_algo_orders(symbol)[0].algo_id)
        except ExchangeError:
            pass  # a closePosition stop on a flat symbol, a crossed trigger: refused, as on Binance
        sim.apply_bar(symbol, *_bar(rng, last, TICKS[symbol]))
        market_state = sim.state.market(symbol)
        seen.append((symbol, market_state.last, market_state.mark, sim.account.wallet_balance,
                     [(p.symbol, p.amount, p.entry_price) for p in sim.account.open_positions()],
                     sim.state.volatility.volatility(symbol)))
    return seen, [dict(e) for e in sim.events]


@pytest.mark.parametrize("seed", range(6))
def test_a_flat_symbols_bar_moves_as_the_full_walk_does(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _session(seed)
    monkeypatch.setattr(stepping, "rests_nothing", lambda state, symbol: False)
    full = _session(seed)
    assert fast == full
    fills = [e["o"] for e in fast[1] if e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert fills  # the session traded: events were compared
    if seed == 0:  # and some of it was liquidated (what a position alone can set off)
        assert any(e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "CALCULATED" for e in fast[1])


def test_holding_follows_every_fill_and_close() -> None:
    sim: ExchangeSimulator = make_sim()
    assert not sim.account.holds("BNBUSDT")
    market(sim, "BUY", "0.5")
    assert sim.account.holds("BNBUSDT") and not sim.account.holds("ETHUSDT")
    market(sim, "SELL", "0.5")
    assert not sim.account.holds("BNBUSDT") and not sim.account.positions_of("BNBUSDT")[0].amount
    assert stepping.rests_nothing(sim.state, "BNBUSDT")
    limit(sim, "BUY", "0.2", "590", timeInForce="GTC")
    assert not stepping.rests_nothing(sim.state, "BNBUSDT")
