"""Benchmark: the whole engine in a backtest (bus, sma-cross, risk, execution, simulator, batched journal).

The `sma-cross` strategy (10/30 closes, 2 % stop, 4 % take-profit, taker fees) over 1,000,000 one-minute
bars of one symbol, and over 222 symbols × 10,000 bars (with the default 4 positions at most, and with a
position allowed on every symbol: the stress case, target ≥ 1M symbol-bars/s, i.e. < 0.5 ms per trade),
journaled in batches to a SQLite file. Prints symbol-bars per second, milliseconds per trade, and resident
memory at 25 %, 50 % and 100 % of the run (flat memory means it does not grow with the number of bars).

Then the whole `quantum-trader backtest --data PEER.csv --json` process (start-up, imports, reading the CSV,
the engine, the report) on the peers' 1M-bar workload (../shared/bench/peer_workload.py, written to a
temporary `BNBUSDT-1m-peer.csv` unless `--peer FILE` names one): wall time, bars/s (target ≥ 500k), the
engine's own figure from the JSON, ms per trade and the process's peak RSS (target < 300 MB); the median
of `--runs` runs. Not a test: the figures go to the README.

    .venv/bin/python bench/backtest.py [--bars-single 1000000] [--bars-multi 10000] [--symbols 222] [--no-journal]
                                       [--peer FILE | --no-peer] [--runs 3] [--only-peer]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from quantum_trader.core.heap import no_full_collections
from quantum_trader.core.logging import configure_logging
from quantum_trader.journal.db import migrate
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe

JOURNAL_BATCH = 5_000
ROOT = Path(__file__).resolve().parents[1]
PEER_WORKLOAD = ROOT.parent / "shared" / "bench" / "peer_workload.py"
CLI = Path(sys.executable).with_name("quantum-trader")


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
        # One run, as the `backtest` command runs it: no full collection after its replay either (core/heap.py).
        with no_full_collections():
            started, cpu_started = time.perf_counter(), time.process_time()
            result = asyncio.run(run_backtest(chunks, instruments, SmaCross(10, 30), rules,
                                              balance=Decimal(1_000_000), seed=seed, journal=journal,
                                              progress=progress))
            if journal is not None:
                journal.close()  # inside the timing: every row is on disk when the clock stops
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
    perf = result.report["performance"]
    print(f"{n_symbols} symbol(s) x {n_bars:,} bars, at most {max_positions} positions: "
          f"{result.symbol_bars:,} symbol-bars in {elapsed:.2f} s = "
          f"{result.symbol_bars / elapsed:,.0f} symbol-bars/s through the engine "
          f"({result.symbol_bars / cpu:,.0f}/s per CPU second, "
          f"{1000 * elapsed / max(1, int(perf['trades'])):.2f} ms per trade) "
          f"({'journal batched' if journal_on else 'no journal'}); trades {perf['trades']}, "
          f"net P&L {perf['net_pnl']}, stop breaches {result.report['stop_audit']['breaches']}; "
          f"RSS {', '.join(memory)}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


#: A user's installed package has its bytecode cached; a sandbox that sets PYTHONDONTWRITEBYTECODE would
#: otherwise charge every run about 0.3 s of compiling our own modules from source.
USER_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def compile_package() -> None:
    """Write the package's bytecode, as `pip install` does, before any process is timed."""
    import quantum_trader

    package = Path(quantum_trader.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True, env=USER_ENV,
                   stdout=subprocess.DEVNULL)


def cli_once(data: Path) -> tuple[float, float, float, dict[str, Any]]:
    """One whole `backtest --json` process: (wall seconds, CPU seconds, its peak RSS in MB, its JSON document).
    CPU time is printed too: on a machine shared with other work it moves less than wall time does."""
    started = time.perf_counter()
    child = subprocess.Popen([str(CLI), "backtest", "--data", str(data), "--json"], stdout=subprocess.PIPE,
                             env=USER_ENV)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"backtest exited {child.returncode} on {data}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1e3, json.loads(out)


def whole_process(peer: Path | None, runs: int) -> None:
    """The CLI process on the peers' workload, start-up and CSV reading included (median of `runs`)."""
    with tempfile.TemporaryDirectory() as folder:
        if peer is None:
            peer = Path(folder) / "BNBUSDT-1m-peer.csv"  # a universe symbol: the file name says which
            subprocess.run([sys.executable, str(PEER_WORKLOAD), str(peer)], check=True)
        compile_package()
        measured = [cli_once(peer) for _ in range(runs)]
    elapsed, cpu = statistics.median(m[0] for m in measured), statistics.median(m[1] for m in measured)
    document = measured[0][3]
    bars, trades = int(document["symbol_bars"]), int(document["performance"]["trades"])
    print(f"whole `backtest --json` process on {peer.name}: {bars:,} bars in {elapsed:.2f} s (median of {runs}; "
          f"runs {', '.join(f'{m[0]:.2f}' for m in measured)} s; CPU {cpu:.2f} s) = {bars / elapsed:,.0f} bars/s "
          f"for the process ({bars / cpu:,.0f} per CPU second); "
          f"engine {document['bars_per_s']:,} bars/s in {document['seconds']} s; trades {trades} "
          f"({1000 * elapsed / max(1, trades):.2f} ms per trade, whole process); "
          f"peak RSS {max(m[2] for m in measured):.0f} MB")


def main() -> None:
    configure_logging(json=False, level="WARNING")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars-single", type=int, default=1_000_000)
    parser.add_argument("--bars-multi", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=222)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-journal", action="store_true")
    parser.add_argument("--peer", type=Path, default=None, help="the peers' kline CSV (default: written to a temp dir)")
    parser.add_argument("--no-peer", action="store_true", help="skip the whole-process measurement")
    parser.add_argument("--only-peer", action="store_true", help="only the whole-process measurement")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.no_peer:
        whole_process(args.peer, args.runs)
    if args.only_peer:
        return
    run(1, args.bars_single, 50_000, args.seed, not args.no_journal, max_positions=1)
    # The bot's default QT_MAX_POSITIONS (4), then a stress case: a position allowed on every symbol, so
    # almost every signal reaches sizing and is refused for margin, at a price, with equity recomputed.
    run(args.symbols, args.bars_multi, 2_000, args.seed, not args.no_journal, max_positions=4)
    run(args.symbols, args.bars_multi, 2_000, args.seed, not args.no_journal, max_positions=args.symbols)


if __name__ == "__main__":
    main()
