"""The fast bar replay must see exactly what a bar-by-bar replay sees: same fills, same events, same money.

The liquidity model is pinned to its calm shape (no volatility widening) because a bar-by-bar replay
updates the volatility estimate on every bar while the fast path only on bars it replays; everything
else, including funding at its own moment, must match byte for byte.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.events import Event
from quantum_trader.sim.liquidity import LiquidityModel
from quantum_trader.sim.margin import liquidation_price
from quantum_trader.sim.replay import BarReplayer
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT")


def _simulator() -> ExchangeSimulator:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS},
                            SimConfig(balance=Decimal(100_000), default_leverage=10),
                            liquidity=LiquidityModel(max_widening=1.0))
    for symbol in SYMBOLS:
        sim.set_margin_type(symbol, "ISOLATED")
    sim.set_prices({s: universe.instrument(s).typical_price for s in SYMBOLS})
    return sim


def _protect(sim: ExchangeSimulator, symbol: str, long: bool) -> None:
    inst = sim.instrument(symbol)
    price = sim.last_price(symbol)
    qty = inst.round_qty(Decimal(3000) / price) + inst.step_size
    side, exit_side, sign = ("BUY", "SELL", 1) if long else ("SELL", "BUY", -1)
    sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(qty)})
    entry = sim.position(symbol).entry_price
    for kind, pct in (("STOP_MARKET", Decimal("-0.01")), ("TAKE_PROFIT_MARKET", Decimal("0.015"))):
        trigger = inst.round_price(entry * (1 + sign * pct))
        sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": symbol, "side": exit_side, "type": kind,
                            "triggerPrice": str(trigger), "closePosition": "true", "workingType": "MARK_PRICE"})


def _hook(sim: ExchangeSimulator, symbol: str, open_time: int, _events: list[Event]) -> None:
    if sim.position(symbol).amount == 0:
        _protect(sim, symbol, long=(open_time // 60_000) % 3 != 0)


def _chunks() -> list[BarChunk]:
    universe = load_universe()
    prices = [float(universe.instrument(s).typical_price) for s in SYMBOLS]
    return list(synthetic_bars(SYMBOLS, prices, 3_000, seed=11, chunk_bars=700, vol=0.002, jump_prob=0.002,
                               start_ms=1_767_225_660_000))


def _bar_by_bar(chunks: list[BarChunk]) -> ExchangeSimulator:
    sim = _simulator()
    for i, symbol in enumerate(SYMBOLS):
        _protect(sim, symbol, long=i % 2 == 0)
    for chunk in chunks:
        for t in range(len(chunk)):
            sim.set_time(int(chunk.open_time[t]))
            for s, symbol in enumerate(SYMBOLS):
                inst = sim.instrument(symbol)
                ohlc = [inst.round_price(Decimal(repr(float(
                    np.round(x / float(inst.tick_size)) * float(inst.tick_size))))) for x in
                    (chunk.open[t, s], chunk.high[t, s], chunk.low[t, s], chunk.close[t, s])]
                events = sim.apply_bar(symbol, *ohlc)
                _hook(sim, symbol, int(chunk.open_time[t]), events)
    return sim


def _fast(chunks: list[BarChunk]) -> tuple[ExchangeSimulator, BarReplayer]:
    sim = _simulator()
    for i, symbol in enumerate(SYMBOLS):
        _protect(sim, symbol, long=i % 2 == 0)
    replayer = BarReplayer(sim, SYMBOLS, _hook)
    replayer.run(chunks)
    return sim, replayer


def test_fast_replay_matches_bar_by_bar_exactly() -> None:
    chunks = _chunks()
    slow = _bar_by_bar(chunks)
    fast, replayer = _fast(chunks)
    trades = [e for e in slow.events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    funding = [e for e in slow.events if e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] == "FUNDING_FEE"]
    assert len(trades) > 20 and len(funding) >= 3  # the path really exercises stops, targets and funding
    assert fast.event_log() == slow.event_log()
    assert fast.wallet_balance == slow.wallet_balance
    assert replayer.stats.replayed_bars < replayer.stats.symbol_bars / 5  # and it skipped most bars


def test_fast_replay_is_deterministic() -> None:
    first, _ = _fast(_chunks())
    second, _ = _fast(_chunks())
    assert first.event_log() == second.event_log()


def test_isolated_liquidation_price_follows_funding_and_fills() -> None:
    """The replay reads liquidation prices on every sync; they are cached per position and must follow it."""
    sim = _simulator()
    symbol = "ETHUSDT"
    sim.new_order({"symbol": symbol, "side": "BUY", "type": "MARKET", "quantity": "1"})

    def fresh() -> Decimal | None:
        pos = sim.position(symbol)
        return liquidation_price(pos.side_sign, abs(pos.amount), pos.entry_price, pos.isolated_wallet,
                                 sim.instrument(symbol))

    before = sim.liquidation_price(symbol)
    assert before is not None and before == fresh()
    sim.advance(8 * 3600)  # a long pays funding: its isolated wallet shrinks, its liquidation price rises
    after = sim.liquidation_price(symbol)
    assert after == fresh() and after is not None and after > before
    sim.new_order({"symbol": symbol, "side": "BUY", "type": "MARKET", "quantity": "1"})
    assert sim.liquidation_price(symbol) == fresh() != after
