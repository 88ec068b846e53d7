"""Mark-price klines and funding rates found beside kline files, for replays that use the real ones.

Where `replay:PATH` and `backtest --data PATH` look (PATH a kline file, a folder of them or a glob; FOLDER
is the folder itself, or each folder the files are in):

- `FOLDER/markPriceKlines/`: Binance mark-price kline files (the kline layout: `<SYMBOL>-1m-<date>.csv`,
  daily or monthly, csv, csv.gz or zip), as data.binance.vision publishes them and `download` writes them;
- `FOLDER/fundingRate/`: `<SYMBOL>-fundingRate-<YYYY-MM>.csv` files with `calc_time,funding_interval_hours,
  last_funding_rate` (data.binance.vision's monthly layout), or `/fapi/v1/fundingRate` dumps with
  `fundingTime,fundingRate`.

They live in subfolders because data.binance.vision names a day of mark klines exactly as that day of
klines, and the klines reader takes every file of its folder. Only the klines' symbols are read, and only
mark files of the klines' interval (by name: `LINKUSDT-5m-...` for 5m klines): `download --interval 5m`
into a folder that already held 1m and 1d days put all three intervals in `markPriceKlines/`, and reading
them together refused every backtest of that folder ("kline files mix intervals"). An error reading the
companions names their folder, and mark bars of another interval than the klines' are refused.

Mark klines stream (`MarkAligner`: the same reader as klines, aligned chunk by chunk, about two chunks in
memory); funding rows are few (three a day per symbol) and are read whole.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..domain.kline_source import FUNDING_FOLDER, MARK_FOLDER, is_kline_file, kline_paths
from .bars import BarChunk, _open_text, _symbol_and_interval, iter_binance_klines

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class MarkBars:
    """Mark-price OHLC aligned to one kline chunk: [T, S] arrays, NaN where no mark bar was recorded."""

    open: F64
    high: F64
    low: F64
    close: F64


@dataclass(frozen=True)
class FundingData:
    """Recorded funding per symbol: (time ms, rate) rows in time order, and the usual interval in hours."""

    rates: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)
    interval_hours: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Companions:
    """The mark-price kline files and funding files beside some klines (empty lists: none there), and the
    klines' interval as their names give it (None: the names do not say, or disagree)."""

    mark_paths: tuple[Path, ...] = ()
    funding_paths: tuple[Path, ...] = ()
    interval_ms: int | None = None

    def __bool__(self) -> bool:
        return bool(self.mark_paths or self.funding_paths)

    def marks(self, symbols: Sequence[str], interval_ms: int | None = None) -> MarkAligner | None:
        """A streaming aligner over the mark files of `symbols` at the klines' interval (`interval_ms`, the
        bars' own when the caller has read them, else the kline files' names'; a file whose name gives no
        interval is taken, and checked when read), or None when there is none."""
        wanted, interval = set(symbols), interval_ms or self.interval_ms
        paths = [p for p in self.mark_paths if _symbol_and_interval(p)[0] in wanted
                 and _symbol_and_interval(p)[1] in (None, interval)]
        return MarkAligner(paths) if paths else None

    def funding(self, symbols: Sequence[str]) -> FundingData:
        return load_funding([p for p in self.funding_paths if p.name.split("-")[0] in set(symbols)])


def companions_of(path: str | Path) -> Companions:
    """The companions beside `path` (a kline file, a folder of them or a glob); none when the subfolders are
    absent or the path names no kline file."""
    try:
        return companions_beside(kline_paths(path))
    except ValueError:
        return Companions()


def companions_beside(files: Sequence[Path]) -> Companions:
    """The companions in the folders `files` are in (kline files already resolved)."""
    folders = sorted({p.parent for p in files})
    intervals = {_symbol_and_interval(p)[1] for p in files}
    interval = intervals.pop() if len(intervals) == 1 else None
    return Companions(_files(folders, MARK_FOLDER), _files(folders, FUNDING_FOLDER), interval)


def _files(folders: Sequence[Path], name: str) -> tuple[Path, ...]:
    return tuple(sorted(p for folder in folders if (folder / name).is_dir()
                        for p in (folder / name).iterdir() if is_kline_file(p)))


class MarkAligner:
    """Mark klines streamed alongside kline chunks: `align(chunk)` gives the chunk's mark bars.

    Chunks must come in time order (as every kline stream gives them); mark rows older than a chunk are
    dropped, so memory holds at most the current mark chunk and what is left of the previous one. A mark
    file that cannot be read, or mark bars of another interval than the chunks', is a ValueError naming
    the companion folder.
    """

    def __init__(self, paths: Sequence[Path], chunk_bars: int = 2_000) -> None:
        self._stream: Iterator[BarChunk] = iter_binance_klines(paths, chunk_bars=chunk_bars)
        self._where = ", ".join(sorted({str(p.parent) for p in paths}))
        self._interval: int | None = None  # the klines'
        self._symbols: tuple[str, ...] = ()
        self._times: I64 = np.zeros(0, np.int64)
        self._values: F64 = np.zeros((4, 0, 0))
        self._exhausted = False

    def align(self, chunk: BarChunk) -> MarkBars:
        times = chunk.open_time
        if not len(times):
            return MarkBars(*np.full((4, 0, len(chunk.symbols)), np.nan))
        first, last = int(times[0]), int(times[-1])
        self._interval = chunk.interval_ms
        while True:
            keep = self._times >= first  # older rows can never be asked for again
            self._times, self._values = self._times[keep], self._values[:, keep]
            if self._exhausted or (len(self._times) and int(self._times[-1]) >= last):
                break
            self._pull()
        out = np.full((4, len(times), len(chunk.symbols)), np.nan)
        rows = np.searchsorted(self._times, times)
        found = rows < len(self._times)
        found[found] = self._times[rows[found]] == times[found]
        for s, symbol in enumerate(chunk.symbols):
            if symbol in self._symbols:
                column = self._symbols.index(symbol)
                out[:, found, s] = self._values[:, rows[found], column]
        return MarkBars(out[0], out[1], out[2], out[3])

    def _pull(self) -> None:
        try:
            chunk = next(self._stream, None)
        except (ValueError, OSError) as exc:
            raise ValueError(f"mark-price klines in {self._where}: {exc}") from None
        if chunk is None:
            self._exhausted = True
            return
        if chunk.interval_ms != self._interval:
            raise ValueError(f"mark-price klines in {self._where}: the mark bars of {', '.join(chunk.symbols)} are "
                             f"{chunk.interval_ms // 1000} s apart, the klines' {(self._interval or 0) // 1000} s: "
                             "keep only mark files of the klines' interval there, each named after its symbol and "
                             "interval (SYMBOL-1m-2026-02.csv)")
        self._symbols = chunk.symbols
        values = np.stack([chunk.open, chunk.high, chunk.low, chunk.close])
        if self._values.shape[2] != values.shape[2]:
            self._times, self._values = chunk.open_time, values
            return
        self._times = np.concatenate([self._times, chunk.open_time])
        self._values = np.concatenate([self._values, values], axis=1)


def load_funding(paths: Sequence[Path]) -> FundingData:
    """Funding rows per symbol from Binance's monthly files or API dumps (duplicates: the last one wins)."""
    rates: dict[str, dict[int, Decimal]] = {}
    hours: dict[str, Counter[int]] = {}
    for path in paths:
        symbol = path.name.split("-")[0].split(".")[0]
        with _open_text(path) as text:
            for time_ms, rate, interval in _funding_rows(path, text):
                rates.setdefault(symbol, {})[time_ms] = rate
                if interval:
                    hours.setdefault(symbol, Counter())[interval] += 1
    return FundingData({s: sorted(rows.items()) for s, rows in rates.items()},
                       {s: counts.most_common(1)[0][0] for s, counts in hours.items()})


def _funding_rows(path: Path, text: io.TextIOBase | object) -> Iterator[tuple[int, Decimal, int | None]]:
    reader = csv.DictReader(text)  # type: ignore[arg-type]
    names = set(reader.fieldnames or ())
    if {"calc_time", "last_funding_rate"} <= names:
        time_key, rate_key = "calc_time", "last_funding_rate"
    elif {"fundingTime", "fundingRate"} <= names:
        time_key, rate_key = "fundingTime", "fundingRate"
    else:
        raise ValueError(f"{path}: not a funding file (expected calc_time,funding_interval_hours,last_funding_rate "
                         "or fundingTime,fundingRate)")
    for line, row in enumerate(reader, start=2):
        try:
            interval = row.get("funding_interval_hours")
            yield int(row[time_key]), Decimal(row[rate_key].strip()), int(interval) if interval else None
        except (ValueError, InvalidOperation, AttributeError) as exc:
            raise ValueError(f"{path}:{line}: cannot read funding row {row}") from exc
