"""Benchmark: the whole engine in a backtest (bus, sma-cross, risk, execution, simulator, batched journal).

The `sma-cross` strategy (10/30 closes, 2 % stop, 4 % take-profit, taker fees) over 1,000,000 one-minute
bars of one symbol, and over 222 symbols × 10,000 bars (with the default 4 positions at most, and with a
position allowed on every symbol), journaled in batches to a SQLite file. Prints
symbol-bars per second, trades, and resident memory at 25 %, 50 % and 100 % of the run (flat memory
means it does not grow with the number of bars). Not a test: the figures go to the README.

    .venv/bin/python bench/backtest.py [--bars-single 1000000] [--bars-multi 10000] [--symbols 222] [--no-journal]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.logging import configure_logging
from quantum_trader.journal.db import migrate
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.runtime.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe

JOURNAL_BATCH = 5_000


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def run(n_symbols: int, n_bars: int, chunk_bars: int, seed: int, journal_on: bool, max_positions: int) -> None:
    universe = load_universe()
    symbols = universe.top(n_symbols)
    instruments = {s: universe.instrument(s) for s in symbols}
    prices = [float(instruments[s].typical_price) for s in symbols]
    chunks = synthetic_bars(symbols, prices, n_bars, seed=seed, chunk_bars=chunk_bars, vol=0.0007, jump_prob=0.0002)
    rules = TradingRules(max_positions=max_positions, min_confidence=0.65, cooldown_s=0.0)
    marks = {n_bars // 4: "25%", n_bars // 2: "50%", n_bars: "100%"}
    memory: list[str] = []
    done = [0]

    def progress(bars: int) -> None:
        before = done[0]
        done[0] += bars
        memory.extend(f"{label} {rss_mb():.0f} MB" for at, label in marks.items() if before < at <= done[0])

    with tempfile.TemporaryDirectory() as folder:
        journal = None
        if journal_on:
            url = f"sqlite:///{folder}/bench.db"
            migrate(url)
            journal = Journal(url, batch_size=JOURNAL_BATCH)
            journal.start_session("backtest", "{}", "bench")
        started, cpu_started = time.perf_counter(), time.process_time()
        result = asyncio.run(run_backtest(chunks, instruments, SmaCross(10, 30), rules, balance=Decimal(1_000_000),
                                          seed=seed, journal=journal, progress=progress))
        if journal is not None:
            journal.close()  # inside the timing: every row is on disk when the clock stops
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    perf = result.report["performance"]
    print(f"{n_symbols} symbol(s) x {n_bars:,} bars, at most {max_positions} positions: "
          f"{result.symbol_bars:,} symbol-bars in {elapsed:.2f} s = "
          f"{result.symbol_bars / elapsed:,.0f} symbol-bars/s through the engine "
          f"({result.symbol_bars / cpu:,.0f}/s per CPU second) "
          f"({'journal batched' if journal_on else 'no journal'}); trades {perf['trades']}, "
          f"net P&L {perf['net_pnl']}, stop breaches {result.report['stop_audit']['breaches']}; "
          f"RSS {', '.join(memory)}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


def main() -> None:
    configure_logging(json=False, level="WARNING")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars-single", type=int, default=1_000_000)
    parser.add_argument("--bars-multi", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=222)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-journal", action="store_true")
    args = parser.parse_args()
    run(1, args.bars_single, 50_000, args.seed, not args.no_journal, max_positions=1)
    # The bot's default QT_MAX_POSITIONS (4), then a stress case: a position allowed on every symbol, so
    # almost every signal reaches sizing and is refused for margin, at a price, with equity recomputed.
    run(args.symbols, args.bars_multi, 2_000, args.seed, not args.no_journal, max_positions=4)
    run(args.symbols, args.bars_multi, 2_000, args.seed, not args.no_journal, max_positions=args.symbols)


if __name__ == "__main__":
    main()
