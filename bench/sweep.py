"""Benchmark: a 16-run sweep on Ray against the same 16 backtests one after another, in one process.

sma-cross over a 4 × 4 grid of `fast` and `slow` on real data (default: six of the Binance USDⓈ-M
2026-02 one-minute files in ../shared/data, 6 symbols × 40,320 bars). Ray runs first (so the sequential
side, not Ray, gets whatever the first runs in a process warm up). Prints the sequential time, the
Ray time (the pool started and settled: Ray's daemons keep a core busy for a few seconds after
`ray.init`; and counting `ray.init` once), their ratio (the median of `--repeat` interleaved pairs: this
machine's speed drifts by ±15 % over a minute, so one pair can say 0.52 or 0.76), each worker's peak memory, and
checks that every Ray result equals its sequential twin. Not a test: the figures go to the README.
Targets (issue 13): Ray under 0.6 × sequential on this machine's 2 cores; peak memory per worker < 300 MB.

    .venv/bin/python bench/sweep.py [--data DIR] [--cpus 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

from quantum_trader.core.logging import configure_logging
from quantum_trader.marketdata.selection import Selection, parse_symbols, read_selection
from quantum_trader.research.backtest_job import BacktestJob, comparable, run_job
from quantum_trader.research.sweep import RayPool, SweepOutcome, sweep
from quantum_trader.research.sweep_plan import GridAxis, combinations

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_um_1m_isda"
SYMBOLS = "ALGOUSDT,AVAXUSDT,DOTUSDT,FILUSDT,LINKUSDT,LTCUSDT"
AXES = [GridAxis("fast", ("5", "10", "15", "20")), GridAxis("slow", ("30", "40", "50", "60"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--symbols", default=SYMBOLS, help="symbols of the data (its 2026-02 files by default)")
    parser.add_argument("--start", default="2026-02-01")
    parser.add_argument("--cpus", type=int, default=None)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to let Ray's start-up settle")
    parser.add_argument("--repeat", type=int, default=3, help="sweep and sequential pairs (the median is reported)")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    from quantum_trader.marketdata.selection import parse_time_ms

    base = BacktestJob(args.data, "sma-cross", selection=Selection(parse_time_ms(args.start, "--start"), None,
                                                                   parse_symbols(args.symbols)))
    booted = time.perf_counter()
    pool = RayPool(cpus=args.cpus)
    started_s = time.perf_counter() - booted
    time.sleep(args.settle)  # Ray's own daemons keep a core busy for a few seconds after ray.init returns
    pairs: list[tuple[float, float]] = []
    try:
        for repeat in range(args.repeat):  # interleaved: both sides see the same machine (its speed drifts ±15 %)
            ready = time.perf_counter()
            outcome = sweep(base, AXES, pool, objective="net_pnl")
            on_ray = time.perf_counter() - ready
            sequential, one_by_one, read_s = _sequential(base)
            pairs.append((on_ray, one_by_one))
            print(f"repeat {repeat + 1}: ray {on_ray:.1f} s, sequential {one_by_one:.1f} s "
                  f"({(one_by_one - read_s) / len(sequential):.2f} s per run): {on_ray / one_by_one:.2f} x")
    finally:
        pool.close()
    _report(outcome, sequential, pairs, started_s)


def _sequential(base: BacktestJob) -> tuple[dict[tuple[tuple[str, str], ...], Any], float, float]:
    """The 16 backtests one after another in this process, reading the data once as the sweep does."""
    started = time.perf_counter()
    bars = list(read_selection(base.data, base.selection))
    read_s = time.perf_counter() - started
    results = {tuple(p.items()): comparable(run_job(base.with_params(p), bars).to_json()) for p in combinations(AXES)}
    return results, time.perf_counter() - started, read_s


def _report(outcome: SweepOutcome, sequential: dict[tuple[tuple[str, str], ...], Any],
            pairs: list[tuple[float, float]], started_s: float) -> None:
    ratios = sorted(ray_s / seq_s for ray_s, seq_s in pairs)
    on_ray, one_by_one = sorted(pairs, key=lambda pair: pair[0] / pair[1])[len(pairs) // 2]
    with_start = on_ray + started_s
    print(f"ray {outcome.engine['version']}, {outcome.engine['cpus']} CPUs: median {ratios[len(ratios) // 2]:.2f} x "
          f"sequential (range {ratios[0]:.2f}-{ratios[-1]:.2f}) once its start-up has settled; counting ray.init's "
          f"{started_s:.1f} s once, {with_start:.1f} s against {one_by_one:.1f} s ({with_start / one_by_one:.2f} x)")
    inside = sorted(run.seconds or 0.0 for run in outcome.runs)
    print(f"per run inside the workers (last repeat): median {inside[len(inside) // 2]:.2f} s, max {inside[-1]:.2f} s "
          f"(sum {sum(inside):.1f} s over {outcome.engine['cpus']} CPUs)")
    same = all(comparable(run.result or {}) == sequential[tuple(run.params.items())] for run in outcome.runs)
    peak = max(run.peak_rss_mb or 0.0 for run in outcome.runs)
    driver_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS per worker: {peak:.0f} MB (driver {driver_rss:.0f} MB); failed runs: "
          f"{sum(1 for r in outcome.runs if r.error)}; every Ray result equals its sequential run: {same}")

if __name__ == "__main__":
    main()
