"""Benchmark: bars through the simulator in bar mode, each open position with a resting SL and TP.

Prints symbol-bars per second (wall clock, and per CPU second of this process: the steadier figure
on a shared machine) and resident memory at 25 %, 50 % and 100 % of the run (flat memory
means the figure does not grow with the number of bars). Not a test: figures go to the README.

    .venv/bin/python bench/sim_replay.py [--bars-single 1000000] [--bars-multi 100000] [--symbols 222]
"""

from __future__ import annotations

import argparse
import resource
import time
from decimal import Decimal
from pathlib import Path

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.events import Event
from quantum_trader.sim.replay import BarReplayer
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

STOP_PCT = Decimal("0.02")
TAKE_PCT = Decimal("0.04")


def rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def open_protected(sim: ExchangeSimulator, symbol: str, long: bool) -> None:
    """Enter at market with ~200 USDT notional, then STOP_MARKET and TAKE_PROFIT_MARKET (closePosition)."""
    inst = sim.instrument(symbol)
    price = sim.last_price(symbol)
    qty = max(inst.round_qty(Decimal(200) / price), inst.lot_size.min_qty)
    if qty * price < inst.min_notional:
        qty = inst.round_qty(inst.min_notional * Decimal("1.1") / price) + inst.step_size
    side, exit_side = ("BUY", "SELL") if long else ("SELL", "BUY")
    sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(qty)})
    entry = sim.position(symbol).entry_price
    sign = 1 if long else -1
    stop = inst.round_price(entry * (1 - sign * STOP_PCT))
    take = inst.round_price(entry * (1 + sign * TAKE_PCT))
    for kind, trigger in (("STOP_MARKET", stop), ("TAKE_PROFIT_MARKET", take)):
        sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": symbol, "side": exit_side, "type": kind,
                            "triggerPrice": str(trigger), "closePosition": "true", "workingType": "MARK_PRICE"})


REFUSED: list[int] = [0]


def try_open(sim: ExchangeSimulator, symbol: str, long: bool) -> None:
    """Refusals (a price near the symbol's min price, margin) are counted, as a bot would log them."""
    try:
        open_protected(sim, symbol, long)
    except ExchangeError:
        REFUSED[0] += 1
        if sim.position(symbol).amount != 0:
            side = "SELL" if sim.position(symbol).amount > 0 else "BUY"
            sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "reduceOnly": "true",
                           "quantity": str(abs(sim.position(symbol).amount))})


def reopen_when_flat(sim: ExchangeSimulator, symbol: str, _time: int, _events: list[Event]) -> None:
    if sim.position(symbol).amount == 0:
        try_open(sim, symbol, long=(_time // 60_000) % 2 == 0)


def run(n_symbols: int, n_bars: int, chunk_bars: int, seed: int) -> None:
    universe = load_universe()
    symbols = universe.top(n_symbols)
    sim = ExchangeSimulator({s: universe.instrument(s) for s in symbols},
                            SimConfig(balance=Decimal(1_000_000), default_leverage=5, retain_history=False))
    for s in symbols:
        sim.set_margin_type(s, "ISOLATED")
    prices = [float(universe.instrument(s).typical_price) for s in symbols]
    sim.set_prices({s: universe.instrument(s).typical_price for s in symbols})
    for i, s in enumerate(symbols):
        try_open(sim, s, long=i % 2 == 0)
    replayer = BarReplayer(sim, symbols, reopen_when_flat)
    marks = {n_bars // 4: "25%", n_bars // 2: "50%", n_bars: "100%"}
    memory: list[str] = []
    start = time.perf_counter()
    done = 0
    in_sim = 0.0
    in_sim_cpu = 0.0
    for chunk in synthetic_bars(symbols, prices, n_bars, seed=seed, chunk_bars=chunk_bars, vol=0.0007,
                                jump_prob=0.0002, start_ms=sim.now_ms + 60_000):
        tick, cpu_tick = time.perf_counter(), time.process_time()
        replayer.run([chunk])
        in_sim += time.perf_counter() - tick
        in_sim_cpu += time.process_time() - cpu_tick
        done += len(chunk)
        for at, label in marks.items():
            if done - len(chunk) < at <= done:
                memory.append(f"{label} {rss_mb():.0f} MB")
    elapsed = time.perf_counter() - start
    stats = replayer.stats
    print(f"{n_symbols} symbol(s) x {n_bars:,} bars: {stats.symbol_bars:,} symbol-bars in {elapsed:.2f} s "
          f"= {stats.symbol_bars / elapsed:,.0f} symbol-bars/s with the feed, "
          f"{stats.symbol_bars / in_sim:,.0f}/s in the simulator alone ({in_sim:.2f} s; "
          f"{stats.symbol_bars / in_sim_cpu:,.0f}/s per CPU second, {in_sim_cpu:.2f} s CPU); "
          f"bars replayed exactly: {stats.replayed_bars:,}; "
          f"entries refused: {REFUSED[0]}; realised P&L {sim.account.total_realized:.2f}; RSS {', '.join(memory)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars-single", type=int, default=1_000_000)
    parser.add_argument("--bars-multi", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=222)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run(1, args.bars_single, 50_000, args.seed)
    run(args.symbols, args.bars_multi, 2_000, args.seed)


if __name__ == "__main__":
    main()
