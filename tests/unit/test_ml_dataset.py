"""Training rows: chunking-independent, the same rows as features + labels on the whole history, real data."""

from __future__ import annotations

import shutil
from decimal import Decimal
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.marketdata.bars import BarChunk, iter_binance_klines, synthetic_bars
from quantum_trader.ml.dataset import Dataset, FundingRows, build_dataset, fingerprint
from quantum_trader.ml.features import FEATURE_NAMES, WARMUP_BARS, BarWindow, compute_features
from quantum_trader.ml.labels import triple_barrier
from quantum_trader.sim.fees import FeeModel

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
REAL = [DATA / "LINKUSDT-1m-2026-02.csv.gz", DATA / "AVAXUSDT-1m-2026-02.csv.gz"]
needs_data = pytest.mark.skipif(not all(p.exists() for p in REAL), reason="shared Binance data not available")
FEE = float(FeeModel().taker)
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
HORIZON = 60
FUNDING_COL = FEATURE_NAMES.index("funding_rate")


def bars(n: int, chunk_bars: int) -> list[BarChunk]:
    return list(synthetic_bars(SYMBOLS, [10.0, 20.0, 30.0], n, seed=5, chunk_bars=chunk_bars, vol=0.004))


def build(chunks: list[BarChunk], *, stride: int = 1, funding: FundingRows | None = None) -> Dataset:
    return build_dataset(chunks, sl_pct=2.0, tp_pct=4.0, fee_rate=FEE, horizon=HORIZON, stride=stride,
                         funding=funding)  # fmt: skip


def assert_same_rows(a: Dataset, b: Dataset) -> None:
    for name in ("y_long", "y_short", "time_ms", "symbol"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.ret_long, b.ret_long)
    np.testing.assert_allclose(a.X, b.X, rtol=1e-5, atol=1e-7, equal_nan=True)


def test_rows_do_not_depend_on_chunking() -> None:
    whole = build(bars(900, 900))
    assert len(whole) > 0
    for chunk_bars in (5, 97, 400):
        assert_same_rows(build(bars(900, chunk_bars)), whole)


def test_rows_are_features_and_labels_of_the_whole_history() -> None:
    chunk = bars(1200, 1200)[0]
    data = build(bars(1200, 250), stride=7)
    window = BarWindow.from_chunk(chunk)
    feats = compute_features(window)
    labels = triple_barrier(window, sl_pct=2.0, tp_pct=4.0, fee_rate=FEE, horizon=HORIZON)
    t = np.searchsorted(chunk.open_time, data.time_ms)
    first = -(-WARMUP_BARS // 7) * 7  # the first complete row on the stride
    assert set(np.unique(t % 7).tolist()) == {0} and t.min() == first and t.max() < 1200 - HORIZON
    assert len(data) == len(range(first, 1200 - HORIZON, 7)) * len(SYMBOLS)  # no NaN here: every row kept
    np.testing.assert_allclose(data.X, feats[t, data.symbol], rtol=1e-5, atol=1e-7, equal_nan=True)
    np.testing.assert_array_equal(data.y_long, labels.win_long[t, data.symbol])
    np.testing.assert_array_equal(data.ret_short, labels.ret_short[t, data.symbol])
    assert data.symbols == SYMBOLS and data.feature_names == FEATURE_NAMES
    assert data.X.dtype == np.float32 and data.y_long.dtype == np.int8 and data.symbol.dtype == np.int32
    assert np.isnan(data.X[:, FUNDING_COL]).all()


def test_missing_bars_and_time_gaps_drop_rows_never_fake_them() -> None:
    chunks = bars(1000, 300)
    close = chunks[1].close.copy()
    close[10, 0] = np.nan  # one missing bar of AAAUSDT
    chunks[1] = BarChunk(SYMBOLS, chunks[1].open_time, chunks[1].open, chunks[1].high, chunks[1].low, close,
                         chunks[1].volume, chunks[1].interval_ms)  # fmt: skip
    gap_first = int(chunks[2].open_time[0])
    chunks[2] = chunks[2].slice(5, 300)  # five minutes missing for every symbol
    data = build(chunks)
    assert not np.isnan(np.delete(data.X, FUNDING_COL, axis=1)).any()
    minute = 60_000
    hole_ms = int(chunks[1].open_time[10])
    a = data.time_ms[data.symbol == 0]
    assert not ((a >= hole_ms) & (a <= hole_ms + WARMUP_BARS * minute)).any()  # ret_240 still reaches the hole
    assert ((a > hole_ms + WARMUP_BARS * minute) & (a < gap_first)).any()  # and then rows come back
    after = int(chunks[2].open_time[0])
    assert not ((data.time_ms >= gap_first) & (data.time_ms < after + WARMUP_BARS * minute)).any()
    assert (data.time_ms == after + WARMUP_BARS * minute).sum() == len(SYMBOLS)


def test_funding_rows_feed_the_funding_feature() -> None:
    chunk = bars(600, 600)[0]
    t0 = int(chunk.open_time[0])
    rows = {"AAAUSDT": [(t0 + 400 * 60_000, Decimal("0.0003")), (t0, Decimal("-0.0001"))]}
    data = build([chunk], funding=rows)
    got = data.X[:, FUNDING_COL]
    a = data.symbol == 0
    late = data.time_ms + 60_000 >= t0 + 400 * 60_000  # the bar closes at or after the second settlement
    np.testing.assert_allclose(got[a & late], 0.0003, rtol=1e-6)
    np.testing.assert_allclose(got[a & ~late], -0.0001, rtol=1e-6)
    assert np.isnan(got[~a]).all()


def test_empty_and_bad_input() -> None:
    data = build(bars(100, 50))  # shorter than warm-up + horizon
    assert len(data) == 0 and data.X.shape == (0, len(FEATURE_NAMES))
    with pytest.raises(ValueError, match="stride"):
        build(bars(100, 50), stride=0)


@needs_data
def test_real_sample_first_5000_bars() -> None:
    chunks = list(islice(iter_binance_klines(REAL, chunk_bars=1000), 5))
    data = build_dataset(chunks, sl_pct=2.0, tp_pct=4.0, fee_rate=FEE, horizon=720)
    assert data.symbols == ("LINKUSDT", "AVAXUSDT")
    assert len(data) == 2 * (5000 - 720 - WARMUP_BARS)  # no bar missing in these files
    assert not np.isnan(np.delete(data.X, FUNDING_COL, axis=1)).any()
    assert set(np.unique(data.y_long)) <= {0, 1} and set(np.unique(data.y_short)) <= {0, 1}
    assert np.all(np.diff(data.time_ms) >= 0)
    wins = data.y_long == 1
    assert wins.any() and (data.y_short == 1).any()
    np.testing.assert_allclose(data.ret_long[wins], 0.04 - FEE * 2.04)  # no gap through a take-profit here
    assert np.all(data.ret_long[~wins] < 0.04)


@needs_data
def test_fingerprint_hashes_names_and_contents(tmp_path: Path) -> None:
    copies = [Path(shutil.copy(p, tmp_path / p.name)) for p in REAL]
    assert fingerprint(REAL) == fingerprint(copies[::-1]) == fingerprint(tmp_path)
    assert len(fingerprint(REAL)) == 64
    raw = bytearray(copies[0].read_bytes())
    raw[len(raw) // 2] ^= 1  # one bit in the middle: same name, same size
    copies[0].write_bytes(bytes(raw))
    assert fingerprint(tmp_path) != fingerprint(REAL)
    copies[0].rename(tmp_path / "OTHER.csv.gz")
    assert fingerprint([tmp_path / "OTHER.csv.gz"]) != fingerprint([REAL[0]])
