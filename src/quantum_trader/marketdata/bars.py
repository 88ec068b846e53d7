"""Bars as numpy arrays: the `BarChunk`, Binance public-data kline files, and a seeded synthetic feed.

Bars travel in chunks of T bars × S symbols of float64 so the simulator can search a whole chunk for
triggers at once (sim/triggers.py) and memory stays flat however long the history is: every feed here
is an iterator of chunks, and no function holds more than about two chunks per symbol.

Floats are fine here because bar prices are only *searched*: the engine converts the few bars where
something happens back to Decimal (a float parsed from a short decimal string round-trips through
`repr`), and all money arithmetic stays in Decimal.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from ..domain.kline_source import kline_paths
from .kline_csv import open_binary
from .kline_merge import FIELDS, SymbolStream

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_INTERVALS_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip
_FILE_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9_]+)-(?P<interval>\d+[smhdwM])-")
_FIELDS = FIELDS
#: 2,000 bars × 222 symbols is ~3.5 MB per field: small enough that a chunk and its temporaries stay in
#: tens of MB, large enough that per-chunk Python overhead is negligible.
DEFAULT_CHUNK_BARS = 2_000
#: Files read without a chunk size are cut into chunks of 2,000 bars, or of 40,000 symbol-bars for fewer than 20
#: symbols: at 2,000 bars a one-symbol backtest paid each chunk's fixed work (the strategy's and the replay's
#: set-up, an equity reading) 500 times per million bars, about 5 % of its run. Results are the same whatever
#: the chunk (a chunk's end decides nothing). Not more: the scanner's features take memory in proportion to a
#: chunk's symbol-bars (all of 2,000 × 222 would have added about 150 MB to a 7-symbol ai-scanner run).
DEFAULT_CHUNK_CELLS = 40_000
#: Rows of a file parsed at a time, whatever the chunk (a file's next block is read ahead on another thread:
#: read_ahead.py). Blocks the size of a 40,000-bar chunk (4 MB of CSV) made no backtest faster and took the
#: peers' one-symbol run from 149 to 265-277 MB of peak RSS (8,000 rows: 185 MB).
READ_BLOCK_ROWS = 2_000


def blocks_ahead(chunk_bars: int) -> int:
    """Blocks of a file read ahead: a chunk's worth, so that the next chunk is parsed (on the reader thread,
    without the GIL) while this one is replayed. One block ahead, a 40,000-bar chunk's start waited for 19
    blocks to be parsed one after the other: 0.18-0.25 s of the peers' 2.1-2.3 s run."""
    return max(1, -(-chunk_bars // READ_BLOCK_ROWS))


def default_chunk_bars(n_symbols: int) -> int:
    """The chunk length for `n_symbols` symbols read without one given (`DEFAULT_CHUNK_CELLS`)."""
    return max(DEFAULT_CHUNK_BARS, DEFAULT_CHUNK_CELLS // max(1, n_symbols))


@dataclass(frozen=True, eq=False)
class BarChunk:
    """T consecutive bars of S symbols; NaN marks a bar missing for a symbol (never a trade)."""

    symbols: tuple[str, ...]
    open_time: I64  # [T], epoch ms UTC
    open: F64  # [T, S]
    high: F64
    low: F64
    close: F64
    volume: F64
    interval_ms: int

    def __post_init__(self) -> None:
        shape = (len(self.open_time), len(self.symbols))
        for name in ("open", "high", "low", "close", "volume"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"BarChunk.{name} has shape {getattr(self, name).shape}, expected {shape}")

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def symbol_index(self, symbol: str) -> int:
        return self.symbols.index(symbol)

    def slice(self, t0: int, t1: int) -> BarChunk:
        """Bars [t0, t1) as views (no copy)."""
        return BarChunk(self.symbols, self.open_time[t0:t1], self.open[t0:t1], self.high[t0:t1],
                        self.low[t0:t1], self.close[t0:t1], self.volume[t0:t1], self.interval_ms)  # fmt: skip

    def bar(self, t: int, s: int) -> tuple[float, float, float, float]:
        """(open, high, low, close) of symbol s at bar t, as Python floats."""
        return (float(self.open[t, s]), float(self.high[t, s]), float(self.low[t, s]), float(self.close[t, s]))


# --- Binance public-data kline files -------------------------------------------------------------


def kline_symbol(path: Path) -> str:
    """The symbol a kline file holds: the first part of its name (`BTCUSDT-1m-2024-01.csv` holds BTCUSDT)."""
    return _symbol_and_interval(path)[0]


def replay_symbols(spec: str | Path) -> list[str]:
    """The symbols the kline files `spec` names hold, by their file names (nothing is read), sorted; the
    ValueError of `kline_paths` when it names none."""
    return sorted({kline_symbol(p) for p in _kline_paths(spec)})


def _symbol_and_interval(path: Path) -> tuple[str, int | None]:
    """`LINKUSDT-1m-2026-02.csv.gz` → ("LINKUSDT", 60000); the interval is None if the name lacks it."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        return path.name.split("-")[0].split(".")[0], None
    return match["symbol"], _INTERVALS_MS.get(match["interval"])


def _open_text(path: Path) -> TextIO:
    """A kline or companion file as text (.csv, .csv.gz or a single-CSV .zip)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8")


def _kline_paths(paths_or_folder: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths_or_folder, str | Path):
        return kline_paths(paths_or_folder)  # a file, a folder or a glob
    return [Path(p) for p in paths_or_folder]


def _group_by_symbol(paths: list[Path]) -> tuple[dict[str, list[Path]], int | None]:
    """Files per symbol (in name order; the reader merges them by time) and their common interval."""
    groups: dict[str, list[Path]] = {}
    intervals: set[int | None] = set()
    for path in paths:
        symbol, interval = _symbol_and_interval(path)
        groups.setdefault(symbol, []).append(path)
        intervals.add(interval)
    known = intervals - {None}
    if len(known) > 1:
        raise ValueError(_mixed_intervals(paths))
    return {s: sorted(ps, key=lambda p: p.name) for s, ps in groups.items()}, known.pop() if known else None


def _mixed_intervals(paths: list[Path]) -> str:
    """The intervals the names give, a file of each, and how to read one interval."""
    names = {ms: name for name, ms in _INTERVALS_MS.items()}
    example: dict[str, Path] = {}
    for path in paths:
        interval = _symbol_and_interval(path)[1]
        if interval is not None:
            example.setdefault(names[interval], path)
    first = next(iter(example))
    return (f"kline files mix intervals: {', '.join(f'{n} ({p.name})' for n, p in example.items())}; a run reads "
            f"one interval: give one interval's files, e.g. the quoted glob '{example[first].parent}/*-{first}-*'")


def _infer_interval(times: I64, groups: dict[str, list[Path]]) -> int:
    steps = np.diff(times)
    steps = steps[steps > 0]
    if steps.size == 0:
        files = ", ".join(str(p) for paths in groups.values() for p in paths)
        raise ValueError(f"{files}: one bar, and the name does not give its interval: name the file after its "
                         "symbol and interval, as in BTCUSDT-1m-2024-01.csv")
    return int(steps.min())


def iter_binance_klines(
    paths_or_folder: str | Path | Iterable[str | Path], chunk_bars: int | None = None
) -> Iterator[BarChunk]:
    """Stream several symbols' kline files aligned on open time (outer join, NaN where a symbol has no bar).

    Every chunk but the last holds exactly `chunk_bars` distinct open times (None: `default_chunk_bars` of the
    number of symbols); memory is bounded by about two chunks per symbol (and a chunk of blocks per file open at
    once: one is read ahead) however many files there are. A symbol's files are merged in time order whatever
    their names, a bar in two of them (a daily file beside the monthly one) kept once; a file whose rows go back
    in time is refused (marketdata/kline_merge.py).
    """
    if chunk_bars is not None and chunk_bars < 1:
        raise ValueError(f"chunk_bars must be >= 1, got {chunk_bars}")
    groups, interval = _group_by_symbol(_kline_paths(paths_or_folder))
    if not groups:
        raise ValueError(f"no kline files in {paths_or_folder}")
    if chunk_bars is None:
        chunk_bars = default_chunk_bars(len(groups))
    symbols = tuple(groups)
    ahead = blocks_ahead(chunk_bars)
    streams = [SymbolStream(paths, batch=READ_BLOCK_ROWS, ahead=ahead) for paths in groups.values()]
    try:
        while True:
            for stream in streams:
                stream.fill(chunk_bars)
            if all(len(s.times) == 0 for s in streams):
                return
            horizon = min((int(s.times[-1]) for s in streams if not s.exhausted), default=np.iinfo(np.int64).max)
            times = _union([s.times[s.times <= horizon] for s in streams])[:chunk_bars]
            if interval is None:
                interval = _infer_interval(times, groups)
            yield _assemble(symbols, times, streams, interval)
    finally:  # stopped half way (closed by the caller, an error): no file left open, no read left running
        for stream in streams:
            stream.close()


def _union(parts: list[I64]) -> I64:
    """The sorted distinct open times of all parts; one symbol's are already so (a stream hands out rows
    whose time advances), and skipping `np.unique` there saves a fifth of reading a one-symbol file."""
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))


def _assemble(symbols: tuple[str, ...], times: I64, streams: list[SymbolStream], interval: int) -> BarChunk:
    fields = np.full((_FIELDS, len(times), len(symbols)), np.nan)
    for s, stream in enumerate(streams):
        got_t, got_v = stream.take(int(times[-1]))
        if len(got_t) == len(times):  # a bar at every time (its times are distinct, within `times`: the same)
            fields[:, :, s] = got_v.T  # a slice, not the scattered write: a seventh of the time
        else:
            fields[:, np.searchsorted(times, got_t), s] = got_v.T
    return BarChunk(symbols, times, fields[0], fields[1], fields[2], fields[3], fields[4], interval)


def read_binance_klines(path: str | Path) -> BarChunk:
    """A whole kline file (.csv, .csv.gz or single-CSV .zip, with or without header) as one chunk."""
    path = Path(path)
    symbol, interval = _symbol_and_interval(path)
    stream = SymbolStream([path], batch=1 << 16)
    try:
        stream.fill(np.iinfo(np.int64).max)
    finally:
        stream.close()
    times, values = stream.times, stream.values
    if interval is None:
        interval = _infer_interval(times, {symbol: [path]})
    o, h, lo, c, v = (np.ascontiguousarray(values[:, i : i + 1]) for i in range(_FIELDS))
    return BarChunk((symbol,), times, o, h, lo, c, v, interval)


# --- Synthetic bars ------------------------------------------------------------------------------

#: 2026-01-01T00:00:00Z, the default first open time of synthetic bars.
SYNTHETIC_START_MS = 1_767_225_600_000


def _round_prices(o: F64, h: F64, lo: F64, c: F64, decimals: npt.NDArray[np.int64]) -> tuple[F64, ...]:
    """Onto each symbol's tick grid: open/close to nearest, high up, low down, so OHLC stays consistent."""
    scale = 10.0 ** decimals.astype(np.float64)
    return (np.rint(o * scale) / scale, np.ceil(h * scale) / scale,
            np.floor(lo * scale) / scale, np.rint(c * scale) / scale)  # fmt: skip


def synthetic_bars(
    symbols: Sequence[str],
    start_prices: Sequence[float],
    n_bars: int,
    interval_ms: int = 60_000,
    *,
    seed: int | Sequence[int],
    chunk_bars: int = DEFAULT_CHUNK_BARS,
    vol: float = 0.001,
    jump_prob: float = 0.0005,
    jump_vol: float = 0.01,
    start_ms: int = SYNTHETIC_START_MS,
    price_decimals: int | Sequence[int] | None = None,
) -> Iterator[BarChunk]:
    """Seeded geometric random walk with gaps, streamed in chunks; same arguments → identical arrays.

    Gaussian and uncorrelated on purpose (tests pin its output): the crypto-like market with heavy tails,
    volatility clustering, a market factor, a mark basis and funding is `synthetic.synthetic_market`.

    Per bar: log-return N(0, vol); with probability `jump_prob` the bar opens with a gap of N(0, jump_vol)
    from the previous close (otherwise open == previous close); wicks beyond max/min(open, close) are
    exponential with mean vol/2. Each random quantity has its own PCG64 stream spawned from `seed` and
    the log price is carried between chunks, so the bars do not depend on `chunk_bars` either.
    `price_decimals` snaps prices to a decimal grid (per symbol or one for all), as real prices are.
    `seed` may be several integers: a resumed paper account passes (seed, start time), so the market
    goes on from its saved prices on a path of its own instead of replaying the previous run's.
    """
    n_sym = len(symbols)
    if len(start_prices) != n_sym or n_sym == 0:
        raise ValueError(f"need one start price per symbol: {n_sym} symbols, {len(start_prices)} prices")
    if chunk_bars < 1 or n_bars < 0:
        raise ValueError("chunk_bars must be >= 1 and n_bars >= 0")
    rngs = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(6)]
    decimals = None if price_decimals is None else np.broadcast_to(np.asarray(price_decimals, np.int64), n_sym)
    ret, gap_u, gap_z, up, down, qty = rngs
    log_close: F64 = np.log(np.asarray(start_prices, np.float64))
    for t0 in range(0, n_bars, chunk_bars):
        shape = (min(chunk_bars, n_bars - t0), n_sym)
        gaps = np.where(gap_u.random(shape) < jump_prob, gap_z.standard_normal(shape) * jump_vol, 0.0)
        steps = gaps + ret.standard_normal(shape) * vol
        logs = np.cumsum(np.vstack([log_close, steps]), axis=0)
        closes = np.exp(logs)
        o = closes[:-1].copy()
        gapped = np.nonzero(gaps)
        o[gapped] *= np.exp(gaps[gapped])
        c = closes[1:]
        h = np.maximum(o, c) * np.exp(up.exponential(vol / 2, shape))
        lo = np.minimum(o, c) * np.exp(-down.exponential(vol / 2, shape))
        if decimals is not None:
            o, h, lo, c = _round_prices(o, h, lo, c, decimals)
        volume = 1000.0 * np.exp(0.5 * qty.standard_normal(shape))
        times = start_ms + interval_ms * np.arange(t0, t0 + shape[0], dtype=np.int64)
        log_close = logs[-1]
        yield BarChunk(tuple(symbols), times, o, h, lo, c, volume, interval_ms)


def bars_from(chunks: Iterable[BarChunk], start_ms: int) -> Iterator[BarChunk]:
    """The bars opening at or after `start_ms`: a replay resumed after a restart skips what it played."""
    for chunk in chunks:
        first = int(np.searchsorted(chunk.open_time, start_ms, side="left"))
        if first < len(chunk):
            yield chunk if first == 0 else chunk.slice(first, len(chunk))
