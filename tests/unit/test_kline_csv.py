"""The pyarrow kline reader reads exactly what a plain numpy parse of the same rows gives, in any block size."""

from __future__ import annotations

import gzip
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.marketdata.bars import iter_binance_klines, read_binance_klines
from quantum_trader.marketdata.kline_csv import read_kline_batches

FEB_2026_MS = 1_769_904_000_000
MINUTE = 60_000
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
          "taker_buy_volume,taker_buy_quote_volume,ignore")  # fmt: skip


def rows(n: int, seed: int = 3) -> list[str]:
    """n Binance kline rows with awkward decimals (many digits, trailing zeros, integers)."""
    rng = np.random.default_rng(seed)
    out = []
    for m in range(n):
        o = round(float(rng.uniform(0.001, 90_000)), int(rng.integers(0, 9)))
        h, lo = o * 1.001, o * 0.999
        out.append(f"{FEB_2026_MS + m * MINUTE},{o},{h!r},{lo:.8f},{o:.4f},{rng.uniform(0, 1e6)!r},"
                   f"{FEB_2026_MS + (m + 1) * MINUTE - 1},1.0,7,0.5,0.5,0")
    return out


def reference(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    table = np.array([[float(x) for x in line.split(",")[:6]] for line in lines])
    return table[:, 0].astype(np.int64), table[:, 1:]


def read_all(path: Path, rows_per_block: int) -> tuple[np.ndarray, np.ndarray]:
    batches = list(read_kline_batches(path, rows_per_block))
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _write(path: Path, text: str, method: int = zipfile.ZIP_DEFLATED) -> None:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", method) as archive:
            archive.writestr(path.name.removesuffix(".zip") + ".csv", text)
    else:
        path.write_bytes(gzip.compress(text.encode()))


@pytest.mark.parametrize(("packing", "method"), [(".csv.gz", 0), (".zip", zipfile.ZIP_DEFLATED),
                                                 (".zip", zipfile.ZIP_STORED), (".zip", zipfile.ZIP_BZIP2)])
@pytest.mark.parametrize("rows_per_block", [1, 300, 100_000])
def test_many_blocks_read_exactly_like_a_plain_parse(tmp_path: Path, rows_per_block: int, packing: str,
                                                     method: int) -> None:
    """A deflated zip member is read by pyarrow as the gzip file it frames; another method by Python in
    pieces of whole lines (rows straddling a 64 KB piece boundary must come out whole)."""
    lines = rows(5_000)
    path = tmp_path / f"ABCUSDT-1m-2026-02{packing}"
    _write(path, "\n".join([HEADER, *lines]) + "\n", method)
    times, values = read_all(path, rows_per_block)
    want_times, want_values = reference(lines)
    assert np.array_equal(times, want_times)
    assert np.array_equal(values, want_values)  # bit for bit: the replay turns these back into Decimal
    assert values.flags.c_contiguous and values.dtype == np.float64 and times.dtype == np.int64


def test_blank_lines_crlf_and_a_header_after_blank_lines(tmp_path: Path) -> None:
    lines = rows(20)
    path = tmp_path / "ABCUSDT-1m-2026-02.csv"
    path.write_bytes(("\r\n\r\n" + HEADER + "\r\n" + "\r\n".join(lines[:10]) + "\r\n\r\n"
                      + "\r\n".join(lines[10:]) + "\r\n").encode())
    chunk = read_binance_klines(path)
    want_times, want_values = reference(lines)
    assert np.array_equal(chunk.open_time, want_times)
    assert np.array_equal(chunk.close[:, 0], want_values[:, 3])


def test_a_file_with_only_a_header_or_nothing_has_no_bars(tmp_path: Path) -> None:
    (tmp_path / "ABCUSDT-1m-2026-02.csv").write_text(HEADER + "\n")
    (tmp_path / "DEFUSDT-1m-2026-02.csv").write_text("")
    assert list(read_kline_batches(tmp_path / "ABCUSDT-1m-2026-02.csv", 10)) == []
    assert list(read_kline_batches(tmp_path / "DEFUSDT-1m-2026-02.csv", 10)) == []
    assert list(iter_binance_klines(tmp_path)) == []


@pytest.mark.parametrize("bad", [
    f"{FEB_2026_MS},1,2,,1.5,10,0,0,0,0,0,0",  # an empty price is refused, never a silent NaN
    f"{FEB_2026_MS},1,2,0.5,1.5",  # five columns
    f"{FEB_2026_MS}.5,1,2,0.5,1.5,10,0,0,0,0,0,0",  # an open time that is not an integer
])
def test_malformed_rows_are_refused_with_the_file_name(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "BADUSDT-1m-2026-02.csv"
    path.write_text("\n".join([*rows(3), bad]) + "\n")
    with pytest.raises(ValueError, match="BADUSDT"):
        read_binance_klines(path)


def test_a_zip_without_a_final_newline_keeps_its_last_row(tmp_path: Path) -> None:
    lines = rows(3_000)
    path = tmp_path / "ABCUSDT-1m-2026-02.zip"
    _write(path, "\r\n".join(lines))  # no header, CRLF, no newline at the end
    times, values = read_all(path, 1)
    want_times, want_values = reference(lines)
    assert np.array_equal(times, want_times) and np.array_equal(values, want_values)


def test_a_zip_read_half_way_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / "ABCUSDT-1m-2026-02.zip"
    _write(path, "\n".join(rows(5_000)) + "\n")
    batches = read_kline_batches(path, 100)
    next(batches)
    assert len(list((tmp_path / "tmp").iterdir())) == 1  # the member framed as gzip, while it is read
    batches.close()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_backtest_stopping_half_way_through_a_zip_leaves_no_temporary_file(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the merge, whose next block is being read in the reader thread when the caller stops."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / "ABCUSDT-1m-2026-02.zip"
    _write(path, "\n".join(rows(20_000)) + "\n")
    chunks = iter_binance_klines(path, chunk_bars=1_024)
    assert len(next(chunks)) == 1_024
    chunks.close()
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("at", [0.01, 0.5])
def test_a_damaged_zip_is_a_clear_error(tmp_path: Path, at: float) -> None:
    """Bytes zeroed inside the deflated member, near its start (Python reads the first line) or half way
    (pyarrow inflates it): an error naming the file, never a zlib traceback or wrong rows."""
    path = tmp_path / "ABCUSDT-1m-2026-02.zip"
    _write(path, "\n".join(rows(20_000)) + "\n")
    data = bytearray(path.read_bytes())
    start = 100 + int(at * (len(data) - 400))
    data[start:start + 40] = bytes(40)
    path.write_bytes(bytes(data))
    with pytest.raises((ValueError, OSError), match=r"ABCUSDT|gzip|deflate|CRC|data"):
        list(read_kline_batches(path, 100))


@pytest.mark.parametrize(("damage", "says"), [
    ("truncated", "the compressed data is cut short or damaged (Truncated compressed stream), as an interrupted "
                  "download or copy leaves it: download or copy the file again"),
    ("plain", "not gzip data, though its name ends in .gz (Not a gzipped file (b'op')): if it is a plain CSV, "
              "rename it to end in .csv; otherwise download it again"),
], ids=["truncated", "plain"])
def test_a_damaged_or_mislabelled_gzip_names_the_file_and_the_fix(tmp_path: Path, damage: str, says: str) -> None:
    """pyarrow's and gzip's own errors named neither the file nor what to do ('Truncated compressed stream')."""
    text = "\n".join([HEADER, *rows(20_000)]) + "\n"
    data = gzip.compress(text.encode())[:100_000] if damage == "truncated" else text.encode()
    path = tmp_path / "ABCUSDT-1m-2026-02.csv.gz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: ")) as refused:
        list(read_kline_batches(path, 1_000))
    assert says in str(refused.value)
