"""A symbol's kline files merged by time whatever their names; rows out of time order refused, never dropped."""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quantum_trader.marketdata.bars import BarChunk, iter_binance_klines, read_binance_klines
from quantum_trader.marketdata.kline_merge import _impossible_bar

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
FEB_2026_MS = 1_769_904_000_000  # 2026-02-01T00:00:00Z
DAY_MS = 86_400_000
MINUTE = 60_000
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
          "taker_buy_volume,taker_buy_quote_volume,ignore")  # fmt: skip
FIELDS = ("open_time", "open", "high", "low", "close", "volume")


def row(minute: int, base: float = 10.0) -> str:
    """One Binance kline CSV row, `minute` minutes after 2026-02-01, its prices a function of the minute."""
    o = base + minute / 100
    return (f"{FEB_2026_MS + minute * MINUTE},{o:.3f},{o + 0.01:.3f},{o - 0.02:.3f},{o + 0.005:.3f},{100 + minute},"
            f"{FEB_2026_MS + (minute + 1) * MINUTE - 1},1000.0,10,50,500.0,0")


def write(path: Path, lines: list[str], header: bool = True) -> Path:
    text = "\n".join(([HEADER] if header else []) + lines) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def read_all(spec: Path | list[Path], chunk_bars: int) -> dict[str, np.ndarray]:
    chunks: list[BarChunk] = list(iter_binance_klines(spec, chunk_bars=chunk_bars))
    return {f: np.concatenate([getattr(c, f) for c in chunks]) for f in FIELDS}


def assert_same_bars(got: dict[str, np.ndarray], want: BarChunk) -> None:
    for field in FIELDS:
        assert np.array_equal(got[field].ravel(), getattr(want, field).ravel()), field


# --- files merged by time ---------------------------------------------------------------------------


@pytest.mark.skipif(not LINK.exists(), reason="shared Binance data not available")
@pytest.mark.parametrize("chunk_bars", [1_000, 2_000, 40_320])
def test_a_day_file_beside_its_month_changes_nothing(tmp_path: Path, chunk_bars: int) -> None:
    """`-06.csv` sorts before `.csv.gz`: read in name order, the month's Feb 1-5 were dropped (33,120 bars)."""
    month = read_binance_klines(LINK)
    shutil.copy(LINK, tmp_path / LINK.name)
    with gzip.open(LINK, "rt") as handle:
        lines = [line.rstrip("\n") for line in handle]
    day = FEB_2026_MS + 5 * DAY_MS
    write(tmp_path / "LINKUSDT-1m-2026-02-06.csv",
          [line for line in lines[1:] if day <= int(line.split(",")[0]) < day + DAY_MS])
    assert len(month) == 40_320
    assert_same_bars(read_all(tmp_path, chunk_bars), month)


@pytest.mark.parametrize("chunk_bars", [1, 3, 7, 100])
def test_files_overlapping_in_any_way_merge_by_time(tmp_path: Path, chunk_bars: int) -> None:
    """Names that sort against time, a day inside the month, partial overlaps at both ends, gaps filled by
    another file: every minute once, with its own prices."""
    write(tmp_path / "AAAUSDT-1m-2026-02.csv.gz", [row(m) for m in range(50, 100) if m != 70])
    write(tmp_path / "AAAUSDT-1m-2026-02-01.csv", [row(m) for m in range(20, 61)])
    write(tmp_path / "AAAUSDT-1m-2026-02-03.csv", [row(m) for m in range(0, 31)], header=False)
    write(tmp_path / "AAAUSDT-1m-2026-02-02.csv", [row(m) for m in (60, 70, 99, 100, 101)])
    write(tmp_path / "AAAUSDT-1m-2026-02-04.csv", [])  # a header and no rows
    (tmp_path / "all").mkdir()
    everything = write(tmp_path / "all" / "AAAUSDT-1m-2026-02.csv", [row(m) for m in range(102)])
    assert_same_bars(read_all(sorted(tmp_path.glob("AAAUSDT-*")), chunk_bars), read_binance_klines(everything))


@settings(max_examples=40, deadline=None)
@given(minutes=st.lists(st.integers(0, 400), min_size=1, max_size=120, unique=True),
       cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), min_size=1, max_size=6),
       chunk_bars=st.integers(1, 50))
def test_any_split_into_overlapping_files_reads_as_one_file(minutes: list[int], cuts: list[tuple[int, int]],
                                                            chunk_bars: int) -> None:
    """Files holding any runs of a symbol's minutes (overlapping or not, named in any order) read as the
    one file of all of them, in any chunk size."""
    minutes = sorted(minutes)
    with tempfile.TemporaryDirectory() as folder:
        files = Path(folder) / "parts"
        files.mkdir()
        spans = [(min(a, b), max(a, b)) for a, b in cuts]
        for i, (lo, hi) in enumerate(spans):  # names ordered against the spans' times
            write(files / f"AAAUSDT-1m-2026-02-{99 - i:02d}.csv", [row(m) for m in minutes if lo <= m <= hi])
        covered = sorted({m for m in minutes for lo, hi in spans if lo <= m <= hi})
        if not covered:
            assert list(iter_binance_klines(files, chunk_bars=chunk_bars)) == []
            return
        whole = write(Path(folder) / "AAAUSDT-1m-2026-02.csv", [row(m) for m in covered])
        assert_same_bars(read_all(files, chunk_bars), read_binance_klines(whole))


def test_the_same_bar_twice_is_kept_once(tmp_path: Path) -> None:
    path = write(tmp_path / "AAAUSDT-1m-2026-02.csv", [row(0), row(1), row(1), row(2)])
    assert read_binance_klines(path).open_time.tolist() == [FEB_2026_MS + m * MINUTE for m in range(3)]


@pytest.mark.parametrize("same_file", [True, False])
def test_two_different_bars_for_one_minute_are_refused_naming_both(tmp_path: Path, same_file: bool) -> None:
    """A month and a day that disagree about a minute: one of them is wrong, and the reader cannot tell which."""
    month = [row(m) for m in range(10)]
    if same_file:
        write(tmp_path / "AAAUSDT-1m-2026-02.csv", [*month[:5], row(4, base=11.0), *month[5:]])
    else:
        write(tmp_path / "AAAUSDT-1m-2026-02.csv", month)
        write(tmp_path / "AAAUSDT-1m-2026-02-01.csv", [row(3), row(4, base=11.0), row(5)])
    with pytest.raises(ValueError, match="2026-02-01T00:04:00Z") as refused:
        list(iter_binance_klines(tmp_path, chunk_bars=4))
    message = str(refused.value)
    assert "remove or fix it" in message and "\n" not in message
    assert ("same file" in message) if same_file else ("AAAUSDT-1m-2026-02-01.csv" in message
                                                       and "AAAUSDT-1m-2026-02.csv" in message)


# --- rows out of time order -------------------------------------------------------------------------


@pytest.mark.parametrize(("order", "line", "minute"), [
    (list(range(2_999))[::-1], 3, 2_997),  # reversed: 1 bar was read (the first), silently
    ([*range(1_499, 2_999), *range(1_499)], 1_502, 0),  # halves swapped: 1,499 bars lost
    ([*range(99), 100, 99, *range(101, 2_999)], 102, 99),  # two rows swapped: one bar lost
])
@pytest.mark.parametrize("packing", [".csv", ".csv.gz"])
def test_rows_out_of_time_order_are_refused(tmp_path: Path, order: list[int], line: int, minute: int,
                                            packing: str) -> None:
    """The message names the file, the line (the header is line 1) and the row's open time, and says to sort."""
    path = write(tmp_path / f"AAAUSDT-1m-2026-02{packing}", [row(m) for m in order])
    for spec in (path, tmp_path):
        with pytest.raises(ValueError, match=f"^{path}: line {line} \\(open time ") as refused:
            list(iter_binance_klines(spec, chunk_bars=500))
        message = str(refused.value)
        assert str(FEB_2026_MS + minute * MINUTE) in message
        assert "sort it by open time" in message and "\n" not in message


def test_a_row_out_of_order_in_one_of_several_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "AAAUSDT-1m-2026-02-01.csv", [row(m) for m in range(10)])
    bad = write(tmp_path / "AAAUSDT-1m-2026-02-02.csv", [row(m) for m in (10, 11, 13, 12, 14)], header=False)
    with pytest.raises(ValueError, match=f"^{bad}: line 4 "):
        list(iter_binance_klines(tmp_path, chunk_bars=3))


# --- bars no market can print ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "why"), [
    ((-10.0, 10.01, 9.98, 10.005, 100), "a price that is not above 0"),
    ((10.0, 9.99, 9.98, 10.005, 100), "a high below the open, close or low"),
    ((10.0, 10.01, 10.002, 10.001, 100), "a low above the open or close"),
    ((10.0, 10.01, 9.98, 10.005, -1), "a volume below 0"),
])
def test_an_impossible_bar_is_refused_naming_the_line(tmp_path: Path, fields: tuple[float, ...], why: str) -> None:
    """Such a row was read as it stood: replayed, a high below the open fills stops at prices never traded."""
    o, h, lo, c, v = fields
    bad = (f"{FEB_2026_MS + 5 * MINUTE},{o},{h},{lo},{c},{v},{FEB_2026_MS + 6 * MINUTE - 1},1000.0,10,50,500.0,0")
    path = write(tmp_path / "AAAUSDT-1m-2026-02.csv", [*(row(m) for m in range(5)), bad, row(6)])
    with pytest.raises(ValueError, match=f"^{path}: line 7 \\(open time 2026-02-01T00:05:00Z\\) is no possible "
                                         f"bar: {why} ") as refused:
        list(iter_binance_klines(path, chunk_bars=500))
    assert "download or copy it again" in str(refused.value)


def first_impossible_row(values: np.ndarray[tuple[int, int], np.dtype[np.float64]]) -> tuple[int, str] | None:
    """The definition, row by row: the first row no market can print, and at it the first reason."""
    for row, (o, h, lo, c, v) in enumerate(values.tolist()):
        if not all(0 < p < float("inf") for p in (o, h, lo, c)):
            return row, "a price that is not above 0"
        if h < max(o, c, lo):
            return row, "a high below the open, close or low"
        if lo > min(o, c):
            return row, "a low above the open or close"
        if not v >= 0:
            return row, "a volume below 0"
    return None


ODD = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, -1.0, 1e-12, 1e12]
CHANGES = st.one_of(st.sampled_from(ODD).map(lambda value: ("set", value)),
                    st.floats(0.5, 2.0).map(lambda factor: ("scale", factor)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 4), CHANGES), max_size=4))
@example([(7, 0, ("set", float("inf")))]).via("an infinite open")
@example([(7, 1, ("set", float("inf")))]).via("an infinite high")
@example([(7, 2, ("set", float("inf")))]).via("an infinite low")
@example([(7, 3, ("set", float("inf")))]).via("an infinite close")
def test_the_impossible_bar_check_is_its_definition(corruptions: list[tuple[int, int, tuple[str, float]]]) -> None:
    """Prices set to odd values or scaled (a high below the close, a low above the open) in a clean file."""
    close = 600 + np.cumsum(np.sin(np.arange(30)))
    open_ = np.r_[close[0], close[:-1]]
    values = np.column_stack([open_, np.maximum(open_, close) + 1, np.minimum(open_, close) - 1, close,
                              np.arange(30) * 1.5])
    for row, field, (how, number) in corruptions:
        values[row, field] = number if how == "set" else values[row, field] * number
    assert _impossible_bar(values) == first_impossible_row(values)
