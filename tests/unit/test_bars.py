"""Bar arrays: real Binance kline files, alignment of several symbols, and the seeded synthetic feed."""

from __future__ import annotations

import gzip
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.marketdata.bars import (
    DEFAULT_CHUNK_BARS,
    BarChunk,
    default_chunk_bars,
    iter_binance_klines,
    read_binance_klines,
    synthetic_bars,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
FEB_2026_MS = 1_769_904_000_000  # 2026-02-01T00:00:00Z
MINUTE = 60_000
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
          "taker_buy_volume,taker_buy_quote_volume,ignore")  # fmt: skip
needs_data = pytest.mark.skipif(not LINK.exists(), reason="shared Binance data not available")


def assert_ohlc_consistent(chunk: BarChunk) -> None:
    ok = ~np.isnan(chunk.close)
    assert np.all(chunk.low[ok] <= np.minimum(chunk.open, chunk.close)[ok])
    assert np.all(np.maximum(chunk.open, chunk.close)[ok] <= chunk.high[ok])
    assert np.all(chunk.low[ok] > 0)


def kline_rows(times_min: list[int], base: float = 10.0) -> list[str]:
    """Binance kline CSV rows (12 columns) at the given minutes after 2026-02-01."""
    rows = []
    for m in times_min:
        o = base + m / 100
        rows.append(f"{FEB_2026_MS + m * MINUTE},{o:.3f},{o + 0.01:.3f},{o - 0.02:.3f},{o + 0.005:.3f},"
                    f"{100 + m},{FEB_2026_MS + (m + 1) * MINUTE - 1},1000.0,10,50,500.0,0")  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text("\n".join(([HEADER] if header else []) + rows) + "\n")
    return path


# --- real file ------------------------------------------------------------------------------------


@needs_data
def test_real_monthly_file() -> None:
    chunk = read_binance_klines(LINK)
    assert chunk.symbols == ("LINKUSDT",)
    assert len(chunk) == 40_320  # 28 days of minutes, none missing
    assert chunk.interval_ms == MINUTE
    assert chunk.open_time[0] == FEB_2026_MS
    assert np.all(np.diff(chunk.open_time) == MINUTE)
    assert chunk.bar(0, 0) == (9.982, 9.990, 9.974, 9.987)
    assert chunk.volume[0, 0] == 24464.35
    assert not np.isnan(chunk.close).any()
    assert_ohlc_consistent(chunk)
    # A float parsed from the file round-trips to the exact decimal string, so Decimal replay is exact.
    assert Decimal(repr(float(chunk.high[0, 0]))) == Decimal("9.990")


@needs_data
def test_real_files_stream_in_chunks_aligned_on_time() -> None:
    paths = [LINK, DATA / "DOTUSDT-1m-2026-02.csv.gz"]
    chunks = list(iter_binance_klines(paths, chunk_bars=10_000))
    assert [len(c) for c in chunks] == [10_000, 10_000, 10_000, 10_000, 320]
    assert chunks[0].symbols == ("LINKUSDT", "DOTUSDT")
    whole = read_binance_klines(LINK)
    assert np.array_equal(np.concatenate([c.open_time for c in chunks]), whole.open_time)
    assert np.array_equal(np.concatenate([c.close[:, :1] for c in chunks]), whole.close)
    for chunk in chunks:
        assert_ohlc_consistent(chunk)


@pytest.mark.parametrize(("symbols", "bars"), [(1, 40_000), (7, 5_714), (20, 2_000), (21, 2_000), (222, 2_000)])
def test_without_a_chunk_size_fewer_symbols_come_in_longer_chunks(symbols: int, bars: int) -> None:
    """40,000 symbol-bars, never fewer than 2,000 bars: a one-symbol backtest in 2,000-bar chunks paid each
    chunk's fixed work 500 times per million bars."""
    assert default_chunk_bars(symbols) == bars
    assert default_chunk_bars(222) == DEFAULT_CHUNK_BARS


@needs_data
def test_one_symbols_month_comes_in_chunks_of_40000_bars_by_default() -> None:
    chunks = list(iter_binance_klines(LINK))
    assert [len(c) for c in chunks] == [40_000, 28 * 1440 - 40_000]


# --- file formats -------------------------------------------------------------------------------------


def test_zip_and_headerless_csv_read_like_the_gzip_with_header(tmp_path: Path) -> None:
    rows = kline_rows(list(range(50)))
    reference = read_binance_klines(write_csv(tmp_path / "ABCUSDT-1m-2026-02.csv", rows))
    gz = tmp_path / "gz" / "ABCUSDT-1m-2026-02.csv.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode()))
    (tmp_path / "bare").mkdir()
    bare = write_csv(tmp_path / "bare" / "ABCUSDT-1m-2026-02.csv", rows, header=False)
    zipped = tmp_path / "ABCUSDT-1m-2026-02.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("ABCUSDT-1m-2026-02.csv", "\n".join(rows) + "\n")  # Binance zips have no header
    assert len(reference) == 50
    assert reference.open_time[0] == FEB_2026_MS
    for path in (gz, bare, zipped):
        chunk = read_binance_klines(path)
        assert chunk.symbols == ("ABCUSDT",)
        for field in ("open_time", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(chunk, field), getattr(reference, field)), (path.name, field)


def test_zip_with_two_members_is_refused(tmp_path: Path) -> None:
    zipped = tmp_path / "ABCUSDT-1m-2026-02.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a.csv", "\n".join(kline_rows([0])))
        archive.writestr("b.csv", "\n".join(kline_rows([1])))
    with pytest.raises(ValueError, match="exactly one CSV"):
        read_binance_klines(zipped)


def test_microsecond_open_times_become_milliseconds(tmp_path: Path) -> None:
    rows = [f"{(FEB_2026_MS + m * MINUTE) * 1000},1,2,0.5,1.5,10,0,0,0,0,0,0" for m in range(3)]
    chunk = read_binance_klines(write_csv(tmp_path / "XYZUSDT-1m-2026-02.csv", rows, header=False))
    assert chunk.open_time.tolist() == [FEB_2026_MS + m * MINUTE for m in range(3)]


def test_interval_is_inferred_when_the_name_does_not_say(tmp_path: Path) -> None:
    rows = kline_rows([0, 5, 10])
    chunk = read_binance_klines(write_csv(tmp_path / "custom.csv", rows))
    assert chunk.interval_ms == 5 * MINUTE
    assert chunk.symbols == ("custom",)


def test_garbage_is_refused_with_the_file_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "BADUSDT-1m-2026-02.csv", ["1,2,three,4,5,6"], header=False)
    with pytest.raises(ValueError, match="BADUSDT"):
        read_binance_klines(path)


# --- alignment ---------------------------------------------------------------------------------------


def test_outer_join_with_missing_bars_streams_in_exact_chunks(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "AAAUSDT-1m-2026-02.csv", kline_rows(list(range(10)), base=10))
    b_minutes = [m for m in range(11) if m != 3]  # B misses minute 3 and has an extra minute 10
    write_csv(tmp_path / "BBBUSDT-1m-2026-02.csv", kline_rows(b_minutes, base=20))
    chunks = list(iter_binance_klines(tmp_path, chunk_bars=4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    times = np.concatenate([c.open_time for c in chunks])
    assert times.tolist() == [FEB_2026_MS + m * MINUTE for m in range(11)]
    close = np.concatenate([c.close for c in chunks])
    assert chunks[0].symbols == ("AAAUSDT", "BBBUSDT")
    assert np.isnan(close[3, 1])
    assert np.isnan(close[10, 0])
    assert np.isnan(close).sum() == 2
    assert close[2, 1] == pytest.approx(20.025)
    assert np.array_equal(close[:10, 0], read_binance_klines(a).close[:, 0])
    one = next(iter_binance_klines(tmp_path, chunk_bars=100))
    assert np.array_equal(one.close, close, equal_nan=True)


def test_consecutive_files_of_one_symbol_join_and_overlaps_are_dropped(tmp_path: Path) -> None:
    write_csv(tmp_path / "AAAUSDT-1m-2026-02-01.csv", kline_rows(list(range(6))))
    write_csv(tmp_path / "AAAUSDT-1m-2026-02-02.csv", kline_rows(list(range(4, 9))))  # overlaps 4, 5
    chunks = list(iter_binance_klines(tmp_path, chunk_bars=3))
    times = np.concatenate([c.open_time for c in chunks])
    assert times.tolist() == [FEB_2026_MS + m * MINUTE for m in range(9)]


def test_mixed_intervals_are_refused_with_a_file_of_each_and_the_fix(tmp_path: Path) -> None:
    write_csv(tmp_path / "AAAUSDT-1m-2026-02.csv", kline_rows([0]))
    write_csv(tmp_path / "BBBUSDT-5m-2026-02.csv", kline_rows([0]))
    with pytest.raises(ValueError, match=r"mix intervals: 1m \(AAAUSDT-1m-2026-02.csv\), 5m \(BBBUSDT-5m") as refused:
        next(iter_binance_klines(tmp_path))
    assert f"give one interval's files, e.g. the quoted glob '{tmp_path}/*-1m-*'" in str(refused.value)


# --- BarChunk --------------------------------------------------------------------------------------------


def test_bar_chunk_slices_are_views_and_shapes_are_checked() -> None:
    chunk = next(synthetic_bars(["A", "B"], [10.0, 20.0], 10, seed=3))
    part = chunk.slice(2, 5)
    assert len(part) == 3
    assert part.bar(0, 1) == chunk.bar(2, 1)
    assert np.shares_memory(part.close, chunk.close)
    assert chunk.symbol_index("B") == 1
    with pytest.raises(ValueError, match="shape"):
        BarChunk(("A",), chunk.open_time, chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume, MINUTE)


# --- synthetic ---------------------------------------------------------------------------------------------


def stack(chunks: list[BarChunk]) -> dict[str, np.ndarray]:
    fields = ("open_time", "open", "high", "low", "close", "volume")
    return {f: np.concatenate([getattr(c, f) for c in chunks]) for f in fields}


def test_synthetic_is_deterministic_and_independent_of_chunk_size() -> None:
    args = (["A", "B", "C"], [100.0, 2.5, 30_000.0], 1_000)
    first = stack(list(synthetic_bars(*args, seed=42, chunk_bars=1000, jump_prob=0.01)))
    again = stack(list(synthetic_bars(*args, seed=42, chunk_bars=1000, jump_prob=0.01)))
    chunked = stack(list(synthetic_bars(*args, seed=42, chunk_bars=77, jump_prob=0.01)))
    other = stack(list(synthetic_bars(*args, seed=43, chunk_bars=1000, jump_prob=0.01)))
    for field, values in first.items():
        assert np.array_equal(values, again[field]), field
        assert np.array_equal(values, chunked[field]), field
    assert not np.array_equal(first["close"], other["close"])


def test_synthetic_bars_are_consistent_with_gaps_only_at_jumps() -> None:
    chunks = list(synthetic_bars(["A", "B"], [100.0, 5.0], 5_000, seed=1, chunk_bars=1_000, jump_prob=0.01))
    assert [len(c) for c in chunks] == [1_000] * 5
    for chunk in chunks:
        assert_ohlc_consistent(chunk)
    bars = stack(chunks)
    assert np.all(np.diff(bars["open_time"]) == MINUTE)
    gapped = bars["open"][1:] != bars["close"][:-1]
    assert 0 < gapped.mean() < 0.03  # about jump_prob of the bars open away from the previous close


def test_synthetic_prices_snap_to_the_tick_grid() -> None:
    chunk = next(synthetic_bars(["A", "B"], [100.0, 0.5], 2_000, seed=9, price_decimals=[2, 4]))
    assert_ohlc_consistent(chunk)
    for s, places in enumerate((2, 4)):
        for field in (chunk.open, chunk.high, chunk.low, chunk.close):
            exponents = {Decimal(repr(float(x))).as_tuple().exponent for x in field[:, s]}
            assert min(exponents) >= -places  # type: ignore[operator]


def test_synthetic_streams_without_materialising_everything() -> None:
    feed = synthetic_bars([f"S{i}" for i in range(222)], [100.0] * 222, 100_000, seed=5, chunk_bars=2_000)
    first = next(feed)
    assert first.close.shape == (2_000, 222)
    assert first.open_time[0] == 1_767_225_600_000


def test_synthetic_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="one start price per symbol"):
        next(synthetic_bars(["A", "B"], [1.0], 10, seed=0))
