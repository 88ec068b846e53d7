"""Benchmark: the AI scanner's scan of the whole universe per closed bar, and training its model.

1. Scan: 222 symbols of the synthetic market; the scanner is warmed up on `WARMUP_BARS` bars, then fed one
   closed bar at a time as a live session feeds it, `--bars` times. Each scan is the whole job of a bar:
   features of every symbol from the rolling window, both sides' calibrated probabilities, the choice of
   signals and their expected values and reasons (`AiScanner.on_chunk`). Also timed apart: the features
   (`latest_features`) and the inference (`ScannerModel.predict`). Target: p99 under 50 ms, so the
   scanner is never why a stop is late.
2. Training: 222 symbols × `--train-days` days of one-minute synthetic bars through the same pipeline as
   `quantum-trader train` (ml/dataset.py `build_dataset` at the CLI's default stride, then ml/train.py
   `train_model`: walk-forward folds, OOF calibration, final fit). Target: under 10 minutes.
   `--train-days 3` measures a tenth of it when the machine is busy; say so when quoting the figure.

    .venv/bin/python bench/scanner.py [--symbols 222] [--bars 100] [--model default] [--train-days 30]
                                      [--stride 5] [--threads 1] [--no-train]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from quantum_trader.core.logging import configure_logging
from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.ml.dataset import build_dataset
from quantum_trader.ml.features import WARMUP_BARS, BarWindow, latest_features
from quantum_trader.ml.train import TrainConfig, train_model
from quantum_trader.signals.ai_scanner import AiScanner, ScannerConfig
from quantum_trader.signals.scanner_model import bot_labels
from quantum_trader.sim.universe import load_universe

DAY_BARS = 1_440
MINUTE_MS = 60_000


def market(n_symbols: int, n_bars: int, chunk_bars: int, seed: int = 7) -> tuple[list[str], Callable[[], object]]:
    universe = load_universe()
    symbols = list(universe.top(n_symbols))
    prices = [float(universe.instrument(s).typical_price) for s in symbols]
    return symbols, lambda: synthetic_bars(symbols, prices, n_bars, seed=seed, chunk_bars=chunk_bars)


def percentiles(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"p50 {np.percentile(a, 50):.1f} ms, p99 {np.percentile(a, 99):.1f} ms, max {a.max():.1f} ms"


def bench_scan(n_symbols: int, n_bars: int, model: str) -> None:
    _, bars = market(n_symbols, WARMUP_BARS + n_bars, WARMUP_BARS + n_bars)
    [chunk] = list(bars())  # type: ignore[call-overload]
    assert isinstance(chunk, BarChunk)
    scanner = AiScanner(ScannerConfig(model=model))
    if scanner.model is None:
        raise SystemExit(f"no model to benchmark: {scanner.status}")
    scanner.on_chunk(chunk.slice(0, WARMUP_BARS))
    scans, feats, infer = [], [], []
    for t in range(WARMUP_BARS, len(chunk)):
        started = time.perf_counter()
        batch = scanner.on_chunk(chunk.slice(t, t + 1))
        scans.append((time.perf_counter() - started) * 1000)
        assert batch.mask.any()
        window = BarWindow.from_chunk(chunk.slice(t - WARMUP_BARS, t + 1))
        started = time.perf_counter()
        x = latest_features(window)
        feats.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        scanner.model.predict(x)
        infer.append((time.perf_counter() - started) * 1000)
    print(f"scan of {n_symbols} symbols per closed bar ({n_bars} bars, model {scanner.model.model_version}):")
    print(f"  whole scan (features, inference, signals, reasons): {percentiles(scans)}")
    print(f"  features alone (latest_features):                  {percentiles(feats)}")
    print(f"  inference alone (both sides, calibrated):           {percentiles(infer)}")


def bench_train(n_symbols: int, days: float, stride: int, threads: int) -> None:
    n_bars = int(days * DAY_BARS)
    _, bars = market(n_symbols, n_bars, DAY_BARS, seed=11)
    labels = bot_labels()
    started = time.perf_counter()
    data = build_dataset(bars(), sl_pct=labels.sl_pct, tp_pct=labels.tp_pct,  # type: ignore[arg-type]
                         fee_rate=labels.fee_rate, horizon=labels.horizon, stride=stride)
    built = time.perf_counter() - started
    print(f"training on {n_symbols} symbols × {days:g} days of 1m bars ({n_bars * n_symbols:,} symbol-bars, "
          f"stride {stride}: {len(data.time_ms):,} labelled rows):")
    print(f"  features + labels (build_dataset): {built:.1f} s")
    started = time.perf_counter()
    model = train_model(data, labels, interval_ms=MINUTE_MS, config=TrainConfig(num_threads=threads))
    trained = time.perf_counter() - started
    print(f"  walk-forward training, calibration, final fit ({threads} thread(s)): {trained:.1f} s")
    print(f"  total: {built + trained:.1f} s ({(built + trained) / 60:.1f} min); model {model.model_version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=222)
    parser.add_argument("--bars", type=int, default=100)
    parser.add_argument("--model", default="default")
    parser.add_argument("--train-days", type=float, default=30.0)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-train", action="store_true")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    bench_scan(args.symbols, args.bars, args.model)
    if not args.no_train:
        bench_train(args.symbols, args.train_days, args.stride, args.threads)


if __name__ == "__main__":
    main()
