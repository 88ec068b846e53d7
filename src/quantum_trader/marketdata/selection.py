"""A period and a set of symbols out of kline files: `backtest --start/--end --symbols`, and each run of a
sweep (which slices one copy of the data per run instead of re-reading files).

Symbols are chosen by file name first (a Binance public-data file is named `SYMBOL-1m-...`), so a folder
of 222 symbols read for three reads three; a chunk is then cut to the period and to the symbols asked,
in the order the data has them. Times are UTC epoch ms; `end_ms` is exclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..domain.kline_source import kline_paths
from .bars import F64, BarChunk, iter_binance_klines

_NEVER = 2**63 - 1


@dataclass(frozen=True)
class Selection:
    """What to keep: `[start_ms, end_ms)` and `symbols` (None: everything)."""

    start_ms: int | None = None
    end_ms: int | None = None
    symbols: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.start_ms is not None and self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ValueError(f"--end ({_iso(self.end_ms)}) must be after --start ({_iso(self.start_ms)})")

    @property
    def everything(self) -> bool:
        return self.start_ms is None and self.end_ms is None and self.symbols is None

    def narrowed(self, start_ms: int | None, end_ms: int | None) -> Selection:
        """The same symbols over a window inside this one (a walk-forward fold)."""
        starts = [t for t in (self.start_ms, start_ms) if t is not None]
        ends = [t for t in (self.end_ms, end_ms) if t is not None]
        return Selection(max(starts) if starts else None, min(ends) if ends else None, self.symbols)


def parse_time_ms(text: str, option: str) -> int:
    """`2026-02-01` or `2026-02-01T12:00` (UTC unless the text names a zone) as epoch ms."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{option} {text}: not a date; write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if not symbols:
        raise ValueError(f"--symbols {text!r}: give symbols separated by commas, e.g. BTCUSDT,ETHUSDT")
    return symbols


def kline_files(data: Path, symbols: Sequence[str] | None) -> list[Path] | Path:
    """The files of `data` (a file, folder or glob) worth reading for `symbols` (all of them, or `data`
    itself, without a choice or for a single file)."""
    if symbols is None or data.is_file():
        return data
    chosen = [p for p in kline_paths(data) if p.name.split("-")[0].split(".")[0] in symbols]
    if not chosen:
        raise ValueError(f"--symbols {','.join(symbols)}: no kline file in {data} is named for them")
    return chosen


def read_selection(data: Path, selection: Selection) -> Iterator[BarChunk]:
    """The kline files of `data`, streamed, cut to `selection`; a ValueError saying why when nothing is left
    (the files hold no rows, or none in the period: then the data's first and last bar)."""
    files = kline_files(data, selection.symbols)
    return _selected(data, files, selection)


@dataclass
class _Seen:
    """The first and last open time the files gave, before the selection cut them."""

    first_ms: int | None = None
    last_ms: int | None = None

    def watch(self, chunks: Iterator[BarChunk]) -> Iterator[BarChunk]:
        for chunk in chunks:
            if len(chunk):
                self.first_ms = int(chunk.open_time[0]) if self.first_ms is None else self.first_ms
                self.last_ms = int(chunk.open_time[-1])
            yield chunk


def _selected(data: Path, files: list[Path] | Path, selection: Selection) -> Iterator[BarChunk]:
    chunks, seen, any_bar = iter_binance_klines(files), _Seen(), False
    for chunk in select(seen.watch(chunks), selection):
        any_bar = True
        yield chunk
    if not any_bar:
        for _ in seen.watch(chunks):  # the rest of the data (selection stops at --end), for its last bar
            pass
        raise ValueError(_nothing_selected(data, files, selection, seen))


def _nothing_selected(data: Path, files: list[Path] | Path, selection: Selection, seen: _Seen) -> str:
    """Why no bar is left: the files hold no rows, or none in the period (the data's own span, and the fix)."""
    paths = kline_paths(files) if isinstance(files, Path) else files
    if seen.first_ms is None or seen.last_ms is None:
        if len(paths) == 1:
            return f"no bars in {paths[0]}: the file is empty or holds only a header; give a kline file with rows"
        names = ", ".join(p.name for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        return (f"no bars in {data}: none of its {len(paths)} kline files ({names}) holds a row (each is empty or "
                "holds only a header); give kline files with rows")
    period = " ".join(f"{option} {_utc(ms)}" for option, ms in (("--start", selection.start_ms),
                                                                ("--end", selection.end_ms)) if ms is not None)
    symbols = f" for {','.join(selection.symbols)}" if selection.symbols else ""
    start = seen.first_ms if selection.start_ms is None else selection.start_ms
    end = _NEVER if selection.end_ms is None else selection.end_ms
    inside = start <= seen.last_ms and end > seen.first_ms  # the period meets the data's span: a hole
    return (f"no bars in {data}{symbols} from {period or 'the period asked'}: the data's bars open from "
            f"{_utc(seen.first_ms)} to {_utc(seen.last_ms)}{', with a hole there' if inside else ''}; "
            "choose --start/--end where the data has bars")


def select(chunks: Iterable[BarChunk], selection: Selection) -> Iterator[BarChunk]:
    """Each chunk cut to the period and symbols (empty chunks are left out; reading stops past the end)."""
    columns: list[int] | None = None
    for chunk in chunks:
        if selection.everything:
            yield chunk
            continue
        if columns is None:
            columns = _columns(chunk.symbols, selection.symbols)
        times = chunk.open_time
        if selection.start_ms is not None and len(times) and times[-1] < selection.start_ms:
            continue
        if selection.end_ms is not None and len(times) and times[0] >= selection.end_ms:
            return
        rows = np.ones(len(times), dtype=bool)
        if selection.start_ms is not None:
            rows &= times >= selection.start_ms
        if selection.end_ms is not None:
            rows &= times < selection.end_ms
        if len(columns) != chunk.n_symbols:  # a time none of the chosen symbols traded is no bar for them
            rows &= ~np.isnan(chunk.close[:, columns]).all(axis=1)
        if rows.any():
            yield cut(chunk, rows, columns)


def cut(chunk: BarChunk, rows: np.ndarray, columns: list[int]) -> BarChunk:
    """The chunk's `rows` (a boolean mask) and `columns` (symbol indices)."""
    every = len(columns) == chunk.n_symbols

    def part(values: F64) -> F64:
        kept: F64 = values[rows] if every else values[rows][:, columns]
        return kept

    return BarChunk(tuple(chunk.symbols[c] for c in columns), chunk.open_time[rows], part(chunk.open),
                    part(chunk.high), part(chunk.low), part(chunk.close), part(chunk.volume), chunk.interval_ms)


def _columns(have: tuple[str, ...], want: tuple[str, ...] | None) -> list[int]:
    if want is None:
        return list(range(len(have)))
    missing = [s for s in want if s not in have]
    if missing:
        raise ValueError(f"--symbols: {', '.join(missing)} not in the data (it has {', '.join(have)})")
    return sorted(have.index(s) for s in want)  # the data's order, as reading only their files gives


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="minutes")
