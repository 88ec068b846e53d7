"""Benchmark: the cost of saving the paper account (QT_PAPER_STATE) against the cost of one bar.

A session saves the in-process simulator after every change: once per bar that only moved prices (no
fsync) and before returning from every call that changed the account (fsync). This prints the median of
both, with 222 symbols and a few positions protected by a STOP_MARKET and a TAKE_PROFIT_MARKET, next to
what the simulator takes to play one bar of those 222 symbols. Not a test: figures go to the README.

    .venv/bin/python bench/paper_account_save.py [--symbols 222] [--positions 4] [--saves 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.paper_store import PaperAccountStore
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe


def protected_positions(sim: ExchangeSimulator, symbols: list[str]) -> None:
    for symbol in symbols:
        inst, price = sim.instrument(symbol), sim.last_price(symbol)
        qty = max(inst.lot_size.min_qty, (Decimal(300) / price).quantize(inst.step_size))
        sim.new_order({"symbol": symbol, "side": "BUY", "type": "MARKET", "quantity": str(qty)})
        for kind, factor in (("STOP_MARKET", "0.97"), ("TAKE_PROFIT_MARKET", "1.05")):
            sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": symbol, "side": "SELL", "type": kind,
                                "triggerPrice": str(inst.round_price(price * Decimal(factor))),
                                "closePosition": "true", "workingType": "MARK_PRICE"})


def median_ms(call: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=222)
    parser.add_argument("--positions", type=int, default=4)
    parser.add_argument("--saves", type=int, default=200)
    args = parser.parse_args()
    universe = load_universe()
    symbols = universe.top(args.symbols)
    sim = ExchangeSimulator({s: universe.instrument(s) for s in symbols},
                            SimConfig(retain_history=False, balance=Decimal(100_000)))
    sim.set_prices({s: sim.last_price(s) for s in symbols})
    protected_positions(sim, list(symbols[: args.positions]))
    store = PaperAccountStore(tempfile.mkdtemp(prefix="paper-bench-"))
    store.open(sim)
    sim.listener = None  # saves are timed one by one below, not triggered by the bars
    prices_only = median_ms(lambda: store.save(durable=False), args.saves)
    account = median_ms(lambda: store.save(durable=True), args.saves)

    def one_bar() -> None:
        sim.set_time(sim.now_ms + 60_000)
        for symbol in symbols:
            p = sim.last_price(symbol)
            sim.apply_bar(symbol, p, p * Decimal("1.001"), p * Decimal("0.999"), p)

    bar = median_ms(one_bar, 20)
    size = max(p.stat().st_size for p in store.folder.glob("state-*.json"))
    print(f"{len(symbols)} symbols, {args.positions} positions with SL and TP, snapshot {size / 1000:.1f} kB")
    print(f"save after a bar (prices only, no fsync): {prices_only:.2f} ms median")
    print(f"save after an account change (fsync):     {account:.2f} ms median")
    print(f"one bar of {len(symbols)} symbols in the simulator: {bar:.2f} ms median")
    store.close()


if __name__ == "__main__":
    main()
