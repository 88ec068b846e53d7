"""The in-process adapter's opt-in `account()` memo (a backtest's sizing reads) never answers a stale figure.

A memoizing adapter and a plain one share one simulator driven by a real `BarReplayer`; at every step
(after `settle_now`, as the backtest does), after orders and after `replay_now`, both must read the same
wallet, equity and available balance. Without the memo the plain adapter always reads afresh, so any
move the memo missed (a price set by the replayer, a fill, funding) shows up as a difference.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np

from quantum_trader.domain.exchange_types import AccountSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.replay import BarReplayer
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT")


def _read(exchange: InProcessExchange) -> AccountSnapshot:
    return asyncio.run(exchange.account())


def _setup() -> tuple[ExchangeSimulator, InProcessExchange, InProcessExchange, BarReplayer]:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS},
                            SimConfig(balance=Decimal(100_000), default_leverage=10, start_time_ms=1_767_225_660_000))
    sim.set_prices({s: universe.instrument(s).typical_price for s in SYMBOLS})
    memo, plain = InProcessExchange(sim), InProcessExchange(sim)
    replayer = BarReplayer(sim, SYMBOLS)
    memo.memoize_account(lambda: replayer.revision)
    return sim, memo, plain, replayer


def _open(sim: ExchangeSimulator, symbol: str) -> None:
    inst = sim.instrument(symbol)
    qty = inst.round_qty(Decimal(2000) / sim.last_price(symbol)) + inst.step_size
    sim.new_order({"symbol": symbol, "side": "BUY", "type": "MARKET", "quantity": str(qty)})


def test_memo_follows_every_replayer_move_and_fill() -> None:
    sim, memo, plain, replayer = _setup()
    _open(sim, "BTCUSDT")
    _open(sim, "ETHUSDT")
    prices = [float(sim.last_price(s)) for s in SYMBOLS]
    chunks = synthetic_bars(SYMBOLS, prices, 1_500, seed=5, chunk_bars=500, vol=0.002, jump_prob=0.001,
                            start_ms=1_767_225_660_000)
    readings, changed = 0, 0
    previous = _read(plain)
    for chunk in chunks:
        stops = np.zeros((len(chunk), len(SYMBOLS)), np.bool_)
        stops[::7, 2] = True  # a signal on BNBUSDT every 7th bar: the backtest's reason to stop
        for step in replayer.steps(chunk, stops):
            assert _read(memo) == _read(plain)  # the replayer moved prices since the last reading
            replayer.settle_now(["BTCUSDT", "ETHUSDT"])
            now = _read(plain)
            assert _read(memo) == now
            assert _read(memo) == now  # a second reading with nothing in between: the memo, still right
            readings, changed = readings + 1, changed + (now != previous)
            previous = now
            if step.t % 21 == 0:
                _open(sim, "BNBUSDT")  # a fill through the simulator: its events invalidate the memo
                assert _read(memo) == _read(plain)
            replayer.replay_now(["BTCUSDT"])
            assert _read(memo) == _read(plain)
        assert _read(memo) == _read(plain)  # the chunk's end settles every symbol at its last close
    assert readings > 100 and changed > readings // 2  # the figures did move: the comparison meant something


def test_without_opting_in_every_reading_is_fresh() -> None:
    sim, _, plain, _ = _setup()
    _open(sim, "BTCUSDT")
    before = _read(plain)
    market = sim.state.market("BTCUSDT")
    market.last = market.mark = market.mark * 2  # moved behind the adapter's back
    assert _read(plain).equity > before.equity
