"""Where `train` and `evaluate` get their bars: a file, folder or glob of Binance kline files
(domain/kline_source.py), a date range, cut into continuous segments.

Segments matter because the reader merges files by symbol in name order: a 2023 month followed by a
2026 month of the same symbol would otherwise look like consecutive bars, and every feature and label
spanning the jump would be fiction. A gap longer than `max_gap_bars` starts a new segment, and the
dataset builder runs afresh on each (its warm-up and label horizon restart there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..marketdata.bars import BarChunk, iter_binance_klines
from .dataset import Dataset, build_dataset
from .model_file import LabelParams

#: A silence longer than this (in bars) in every symbol at once splits the data (an hour of 1m bars:
#: longer than any routine maintenance, far shorter than the gap between two months years apart).
MAX_GAP_BARS = 60


def parse_date(text: str, *, end: bool = False) -> int:
    """`2026-02-15` or an ISO date-time (UTC unless it says otherwise) as epoch ms.

    A bare date given as an end means the whole day: the end is the next midnight, exclusive.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text.strip()) == 10:
        moment += timedelta(days=1)
    return int(moment.timestamp() * 1000)


def clip(chunks: Iterable[BarChunk], start_ms: int | None, end_ms: int | None) -> Iterator[BarChunk]:
    """Only the bars with start_ms ≤ open time < end_ms (either bound optional)."""
    for chunk in chunks:
        lo = 0 if start_ms is None else int(np.searchsorted(chunk.open_time, start_ms, side="left"))
        hi = len(chunk) if end_ms is None else int(np.searchsorted(chunk.open_time, end_ms, side="left"))
        if hi > lo:
            yield chunk if (lo, hi) == (0, len(chunk)) else chunk.slice(lo, hi)
        if end_ms is not None and len(chunk) and chunk.open_time[-1] >= end_ms:
            return


class Segments:
    """Splits a chunk stream at time gaps into consecutive sub-streams, lazily (memory stays flat).

    Iterate it for the segments; consume each segment fully before asking for the next one.
    """

    def __init__(self, chunks: Iterable[BarChunk], max_gap_bars: int = MAX_GAP_BARS) -> None:
        self._chunks = iter(chunks)
        self._pending: BarChunk | None = None
        self._max_gap_bars = max_gap_bars

    def __iter__(self) -> Iterator[Iterator[BarChunk]]:
        while True:
            first = self._pending if self._pending is not None else next(self._chunks, None)
            self._pending = None
            if first is None:
                return
            yield self._segment(first)

    def _segment(self, chunk: BarChunk | None) -> Iterator[BarChunk]:
        while chunk is not None:
            limit = self._max_gap_bars * chunk.interval_ms
            gaps = np.flatnonzero(np.diff(chunk.open_time) > limit)
            if gaps.size:
                cut = int(gaps[0]) + 1
                yield chunk.slice(0, cut)
                self._pending = chunk.slice(cut, len(chunk))
                return
            yield chunk
            following = next(self._chunks, None)
            if following is not None and len(following) and following.open_time[0] - chunk.open_time[-1] > limit:
                self._pending = following
                return
            chunk = following


@dataclass
class LoadedRows:
    """The labelled rows of every segment, concatenated, and what was read to get them."""

    dataset: Dataset
    interval_ms: int
    segments: int
    bars: int
    paths: list[Path]


def load_rows(
    paths: list[Path],
    labels: LabelParams,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    stride: int = 1,
    on_bars: Callable[[int], None] | None = None,
) -> LoadedRows:
    """Stream the files, clip to [start, end), split at gaps, and label + featurise each segment.

    `on_bars(n)` is called with each chunk's bar count (the progress bar's feed).
    """
    seen = {"interval": 0, "bars": 0}

    def counted(chunks: Iterable[BarChunk]) -> Iterator[BarChunk]:
        for chunk in chunks:
            seen["interval"], seen["bars"] = chunk.interval_ms, seen["bars"] + len(chunk)
            if on_bars is not None:
                on_bars(len(chunk))
            yield chunk

    parts = []
    stream = counted(clip(iter_binance_klines(paths), start_ms, end_ms))
    for segment in Segments(stream):
        parts.append(
            build_dataset(
                segment,
                sl_pct=labels.sl_pct,
                tp_pct=labels.tp_pct,
                fee_rate=labels.fee_rate,
                horizon=labels.horizon,
                stride=stride,
            )
        )
    if not parts:
        raise ValueError("no bars in the given files and dates")
    return LoadedRows(_concat(parts), seen["interval"], len(parts), seen["bars"], paths)


def _concat(parts: list[Dataset]) -> Dataset:
    """Segments of one stream share symbols and feature names; their rows are simply stacked."""
    if len(parts) == 1:
        return parts[0]

    def stack(name: str) -> npt.NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])

    return replace(
        parts[0],
        X=stack("X"),
        y_long=stack("y_long"),
        y_short=stack("y_short"),
        ret_long=stack("ret_long"),
        ret_short=stack("ret_short"),
        time_ms=stack("time_ms"),
        symbol=stack("symbol"),
    )
