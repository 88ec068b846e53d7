"""Training rows (features, both sides' labels) streamed from bar chunks, and the data fingerprint.

Features need WARMUP_BARS of history and labels `horizon` bars of future, so each chunk is processed
with a carried-over tail of WARMUP_BARS + horizon bars: memory stays at about one chunk of [T, S, F]
however long the history is, and a row's values do not depend on how the bars were chunked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.marketdata.bars import F64, I64, BarChunk
from quantum_trader.ml.features import FEATURE_NAMES, WARMUP_BARS, BarWindow, compute_features
from quantum_trader.ml.labels import triple_barrier

#: Per symbol: (funding time in epoch ms, rate) rows, e.g. sim/funding.py `load_funding_csv` output.
FundingRows = Mapping[str, Sequence[tuple[int, Decimal | float]]]
_FUNDING_COLUMN = FEATURE_NAMES.index("funding_rate")


@dataclass(frozen=True, eq=False)
class Dataset:
    """N labelled rows: features, both sides' outcome and net return, bar open time and symbol index.

    `time_ms` is the open time of the bar whose close is the entry; its label looks `horizon` bars on.
    """

    X: npt.NDArray[np.float32]  # [N, F]
    y_long: npt.NDArray[np.int8]  # 1 win, 0 loss or timeout
    y_short: npt.NDArray[np.int8]
    ret_long: F64  # net return after fees, as a fraction
    ret_short: F64
    time_ms: I64
    symbol: npt.NDArray[np.int32]  # index into `symbols`
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.time_ms)


def _regular(chunk: BarChunk) -> BarChunk:
    """The chunk on a gap-free time grid: open times missing for every symbol become rows of NaN."""
    times, step = chunk.open_time, chunk.interval_ms
    if len(times) < 2 or np.all(np.diff(times) == step):
        return chunk
    offsets = (times - times[0]) // step
    grid = times[0] + step * np.arange(int(offsets[-1]) + 1, dtype=np.int64)
    fields = np.full((5, len(grid), chunk.n_symbols), np.nan)
    for i, name in enumerate(("open", "high", "low", "close", "volume")):
        fields[i, offsets] = getattr(chunk, name)
    return BarChunk(chunk.symbols, grid, fields[0], fields[1], fields[2], fields[3], fields[4], chunk.interval_ms)


def _concat(tail: BarChunk | None, chunk: BarChunk) -> BarChunk:
    """tail + chunk (NaN rows fill a time gap between them); the symbols must match."""
    if tail is None or len(tail) == 0:
        return _regular(chunk)
    if chunk.symbols != tail.symbols:
        raise ValueError(f"chunk symbols changed: {tail.symbols} → {chunk.symbols}")
    o, h, lo, c, v = (np.concatenate([getattr(tail, n), getattr(chunk, n)])
                      for n in ("open", "high", "low", "close", "volume"))  # fmt: skip
    both = BarChunk(tail.symbols, np.concatenate([tail.open_time, chunk.open_time]), o, h, lo, c, v, chunk.interval_ms)
    return _regular(both)


def funding_matrix(rows: FundingRows | None, symbols: tuple[str, ...], close_ms: I64) -> F64 | None:
    """[T, S] last funding rate settled at or before each bar's close (NaN before the first known one)."""
    if rows is None:
        return None
    out = np.full((len(close_ms), len(symbols)), np.nan)
    for s, symbol in enumerate(symbols):  # per symbol, not per bar: a searchsorted each
        series = sorted(rows.get(symbol, ()))
        if not series:
            continue
        times = np.array([t for t, _ in series], np.int64)
        rates = np.array([float(r) for _, r in series])
        k = np.searchsorted(times, close_ms, side="right") - 1
        out[:, s] = np.where(k >= 0, rates[np.maximum(k, 0)], np.nan)
    return out


def _window(bars: BarChunk, start: int, end: int, funding: FundingRows | None) -> BarWindow:
    """bars[start:end] as a BarWindow, with the funding matrix when funding rows are given."""
    part = bars.slice(start, end)
    rates = funding_matrix(funding, bars.symbols, part.open_time + bars.interval_ms)
    return BarWindow(part.open_time, part.open, part.high, part.low, part.close, part.volume, rates)


@dataclass(frozen=True)
class _Params:
    sl_pct: float
    tp_pct: float
    fee_rate: float
    horizon: int
    stride: int


def _rows(bars: BarChunk, first: int, base: int, p: _Params, funding: FundingRows | None) -> list[npt.NDArray[Any]]:
    """Labelled complete rows for bars[first : len - horizon]; `base` is the global index of bars[0]."""
    end = len(bars) - p.horizon
    start = max(first - WARMUP_BARS, 0)
    feats = compute_features(_window(bars, start, end, funding))[first - start :]
    labels = triple_barrier(_window(bars, first, len(bars), None), sl_pct=p.sl_pct, tp_pct=p.tp_pct,
                            fee_rate=p.fee_rate, horizon=p.horizon)  # fmt: skip
    rows = np.arange(end - first)
    rows = rows[(base + first + rows) % p.stride == 0]
    complete = ~np.isnan(np.delete(feats[rows], _FUNDING_COLUMN, axis=2)).any(axis=2)
    known = complete & (labels.win_long[rows] >= 0) & (labels.win_short[rows] >= 0)
    tt, ss = np.nonzero(known)
    t = rows[tt]
    return [feats[t, ss], labels.win_long[t, ss], labels.win_short[t, ss], labels.ret_long[t, ss],
            labels.ret_short[t, ss], bars.open_time[first + t], ss.astype(np.int32)]  # fmt: skip


def build_dataset(
    chunks: Iterable[BarChunk],
    *,
    sl_pct: float,
    tp_pct: float,
    fee_rate: float,
    horizon: int,
    stride: int = 1,
    funding: FundingRows | None = None,
) -> Dataset:
    """Every `stride`-th bar's rows (per symbol) with known labels and complete features, chunk by chunk.

    Labels as `triple_barrier` (sl_pct/tp_pct in percent, fee_rate a fraction). A row is kept when both
    sides' labels are known and every feature but funding is present. Rows are in time order, then
    symbol order; the result does not depend on the chunk size (stride counts bars from the first).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    params = _Params(float(sl_pct), float(tp_pct), float(fee_rate), horizon, stride)
    parts: list[list[npt.NDArray[Any]]] = []
    tail: BarChunk | None = None
    base = next_row = 0  # global bar index of tail[0], and of the first row not yet labelled
    symbols: tuple[str, ...] = ()
    for chunk in chunks:
        bars = _concat(tail, chunk)
        symbols = bars.symbols
        first = next_row - base
        if len(bars) - horizon > first:
            parts.append(_rows(bars, first, base, params, funding))
            next_row = base + len(bars) - horizon
        keep = max(next_row - base - WARMUP_BARS, 0)
        tail, base = bars.slice(keep, len(bars)), base + keep
    return _assemble(parts, symbols)


def _assemble(parts: list[list[npt.NDArray[Any]]], symbols: tuple[str, ...]) -> Dataset:
    if not parts:
        n_feat = len(FEATURE_NAMES)
        empty = [np.zeros((0, n_feat), np.float32), *(np.zeros(0, d) for d in
                 (np.int8, np.int8, np.float64, np.float64, np.int64, np.int32))]  # fmt: skip
        parts = [empty]
    cols = [np.concatenate([part[i] for part in parts]) for i in range(7)]
    return Dataset(cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], symbols, FEATURE_NAMES)


def _files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files named by a path, a folder (its files, not recursive) or several paths, sorted by name."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[Path] = []
    for item in map(Path, items):
        found += sorted(p for p in item.iterdir() if p.is_file()) if item.is_dir() else [item]
    return sorted(found, key=lambda p: (p.name, str(p)))


def fingerprint(paths: str | Path | Iterable[str | Path]) -> str:
    """sha256 over every file's name, size and full contents, in name order: the model's data identity.

    Whole contents (not samples): two months of 222 symbols hash in seconds, and a corrected file with
    the same size and ends would otherwise keep the old fingerprint. Folder location is not hashed,
    so the same files copied elsewhere keep their fingerprint.
    """
    digest = hashlib.sha256()
    for path in _files(paths):
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()
