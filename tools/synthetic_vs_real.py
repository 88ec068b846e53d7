"""Print the statistics that make a market "crypto-like" for the synthetic market and for real 1m klines.

The defaults of `marketdata.synthetic.MarketModel` were chosen with this table: per-bar std of log returns,
kurtosis (3 for a Gaussian), autocorrelation of |returns| at lags 1, 5 and 30 (volatility clustering; 0
for a random walk), mean pairwise correlation of returns (the market factor), mean high-low range over
the std (wick size), and the share of funding rates at exactly 0.01 %. Real data: the Binance USDⓈ-M
monthly files in ../shared/data/binance_um_1m_isda (one row per month), funding from premium_index_funding.

    .venv/bin/python tools/synthetic_vs_real.py [--symbols 7] [--bars 40320] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from quantum_trader.marketdata.bars import BarChunk, iter_binance_klines
from quantum_trader.marketdata.synthetic import MarketChunk, synthetic_market

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
KLINES = SHARED / "binance_um_1m_isda"
FUNDING = SHARED / "premium_index_funding"
F64 = np.ndarray


def stack(chunks: Iterable[BarChunk]) -> dict[str, F64]:
    parts = list(chunks)
    out = {name: np.concatenate([getattr(c, name) for c in parts]) for name in ("high", "low", "close")}
    if all(isinstance(c, MarketChunk) for c in parts):
        out["funding"] = np.concatenate([c.funding_rate for c in parts])  # type: ignore[attr-defined]
        out["basis"] = np.concatenate([c.mark_close / c.close - 1 for c in parts])  # type: ignore[attr-defined]
    return out


def abs_autocorr(r: F64, lag: int) -> float:
    a = np.abs(r)
    return float(np.mean([np.corrcoef(a[:-lag, s], a[lag:, s])[0, 1] for s in range(a.shape[1])]))


def statistics(bars: dict[str, F64]) -> dict[str, float]:
    """Mean over symbols of each statistic (returns are close-to-close log returns)."""
    r = np.diff(np.log(bars["close"]), axis=0)
    r = r[~np.isnan(r).any(axis=1)]
    std = r.std(axis=0)
    z = (r - r.mean(axis=0)) / std
    corr = np.corrcoef(r.T)
    pairs = corr[np.triu_indices(corr.shape[0], 1)]
    ranges = np.nanmean(np.log(bars["high"] / bars["low"]), axis=0)
    out = {"std": float(std.mean()), "kurtosis": float(np.mean(z**4)),
           "acf|r| 1": abs_autocorr(r, 1), "acf|r| 5": abs_autocorr(r, 5), "acf|r| 30": abs_autocorr(r, 30),
           "mean corr": float(pairs.mean()) if pairs.size else float("nan"),
           "range/std": float(np.mean(ranges / std))}  # fmt: skip
    if "funding" in bars:
        rates = bars["funding"][~np.isnan(bars["funding"])]
        out["funding=0.01%"] = float(np.mean(np.abs(rates - 1e-4) < 1e-9))
        out["funding std"] = float(rates.std())
        out["basis std bps"] = float(bars["basis"].std() * 1e4)
    return out


def real_funding() -> dict[str, float]:
    rates = [float(row["fundingRate"]) for path in sorted(FUNDING.glob("*_funding.csv"))
             for row in csv.DictReader(path.open(encoding="utf-8"))]  # fmt: skip
    values = np.asarray(rates)
    return {"funding=0.01%": float(np.mean(np.abs(values - 1e-4) < 1e-9)), "funding std": float(values.std())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=7)
    parser.add_argument("--bars", type=int, default=40_320, help="28 days of 1m bars, like a real month file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    names = [f"SYN{i}USDT" for i in range(args.symbols)]
    rows["synthetic"] = statistics(stack(synthetic_market(names, [10.0] * args.symbols, args.bars, seed=args.seed,
                                                          chunk_bars=10_000)))
    if KLINES.is_dir():
        for month in ("2023-02", "2026-02"):
            paths = sorted(KLINES.glob(f"*-1m-{month}.csv.gz"))
            if paths:
                rows[f"real {month} ({len(paths)} symbols)"] = statistics(stack(iter_binance_klines(paths, 50_000)))
    else:
        print(f"no real data at {KLINES}: synthetic only")
    if FUNDING.is_dir():
        rows["real funding (5 symbols, 2024-25)"] = real_funding()
    columns = list(dict.fromkeys(k for row in rows.values() for k in row))
    print(f"| {'':34} | " + " | ".join(f"{c:>13}" for c in columns) + " |")
    print(f"|{'-' * 36}|" + "|".join("-" * 15 for _ in columns) + "|")
    for name, row in rows.items():
        cells = [f"{row[c]:13.4g}" if c in row else f"{'':13}" for c in columns]
        print(f"| {name:34} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
