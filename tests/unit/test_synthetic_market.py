"""The crypto-like synthetic market: deterministic, heavy-tailed, clustered, correlated, with a basis and funding."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.marketdata.synthetic import (
    HOUR_MS,
    MarketChunk,
    MarketModel,
    funding_ahead,
    funding_rows,
    marks_of,
    symbol_betas,
    synthetic_market,
)

FIELDS = ("open", "high", "low", "close", "volume", "mark_open", "mark_high", "mark_low", "mark_close", "funding_rate")
NAMES = ["AUSDT", "BUSDT", "CUSDT", "DUSDT"]


def stack(chunks: list[MarketChunk]) -> dict[str, np.ndarray]:
    out = {name: np.concatenate([getattr(c, name) for c in chunks]) for name in FIELDS}
    out["open_time"] = np.concatenate([c.open_time for c in chunks])
    return out


def market(n_bars: int, *, seed: int = 7, chunk_bars: int = 2_000, model: MarketModel | None = None,
           names: list[str] = NAMES) -> dict[str, np.ndarray]:
    return stack(list(synthetic_market(names, [10.0 * (i + 1) for i in range(len(names))], n_bars, seed=seed,
                                       chunk_bars=chunk_bars, model=model)))


@pytest.fixture(scope="module")
def long_sample() -> dict[str, np.ndarray]:
    """About a month of one-minute bars: long enough for tail and clustering statistics to be stable."""
    return market(40_000, chunk_bars=10_000)


def returns(bars: dict[str, np.ndarray]) -> np.ndarray:
    return np.diff(np.log(bars["close"]), axis=0)


def kurtosis(r: np.ndarray) -> np.ndarray:
    z = (r - r.mean(axis=0)) / r.std(axis=0)
    return np.asarray(np.mean(z**4, axis=0))


def abs_autocorr(r: np.ndarray, lag: int) -> np.ndarray:
    a = np.abs(r)
    return np.array([np.corrcoef(a[:-lag, s], a[lag:, s])[0, 1] for s in range(a.shape[1])])


def mean_pairwise_corr(r: np.ndarray) -> float:
    corr = np.corrcoef(r.T)
    return float(corr[np.triu_indices(corr.shape[0], 1)].mean())


def test_same_seed_gives_identical_arrays_whatever_the_chunk_size() -> None:
    first, again, chunked = market(3_000), market(3_000), market(3_000, chunk_bars=77)
    other = market(3_000, seed=8)
    for name in (*FIELDS, "open_time"):
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)
        np.testing.assert_array_equal(first[name], chunked[name], err_msg=name)
    assert not np.array_equal(first["close"], other["close"])


def test_a_resumed_path_seed_and_symbol_parameters() -> None:
    """A tuple seed (how a resumed paper account continues) is a path of its own; a symbol's beta comes
    from its name, so it does not depend on the other symbols or their order."""
    resumed = stack(list(synthetic_market(NAMES, [10.0, 20.0, 30.0, 40.0], 100, seed=(7, 1))))
    assert not np.array_equal(market(100, seed=7)["close"], resumed["close"])
    model = MarketModel()
    betas = symbol_betas(NAMES, model)
    np.testing.assert_array_equal(symbol_betas(NAMES[::-1], model), betas[::-1])
    assert betas.min() > 0.5 and betas.max() < 2 and betas.std() > 0


def test_no_nan_and_ohlc_consistent_for_last_and_mark(long_sample: dict[str, np.ndarray]) -> None:
    bars = long_sample
    for name in FIELDS[:-1]:
        assert not np.isnan(bars[name]).any(), name
        assert (bars[name] > 0).all(), name
    for prefix in ("", "mark_"):
        o, h, lo, c = (bars[prefix + k] for k in ("open", "high", "low", "close"))
        assert (lo <= np.minimum(o, c)).all() and (np.maximum(o, c) <= h).all(), prefix or "last"


def test_heavy_tails_and_volatility_clustering(long_sample: dict[str, np.ndarray]) -> None:
    r = returns(long_sample)
    assert (kurtosis(r) > 6).all()  # a Gaussian walk has 3; real 1m alt-coins 10–60
    assert (abs_autocorr(r, 1) > 0.1).all()  # a random walk has 0; real 1m alt-coins 0.2–0.3
    assert (abs_autocorr(r, 30) > 0.05).all()  # calm and busy spells last for hours
    assert 0.0008 < float(r.std(axis=0).mean()) < 0.002


def test_without_tails_and_clustering_the_statistics_say_so() -> None:
    """The two tests above can fail: near-Gaussian innovations without GARCH and without jumps give a
    kurtosis near 3 and no clustering."""
    calm = MarketModel(tail_df=200.0, garch_alpha=0.0, garch_beta=0.0, jump_prob=0.0, market_jump_prob=0.0)
    r = returns(market(20_000, model=calm))
    assert (abs(kurtosis(r) - 3) < 0.3).all()
    assert (abs(abs_autocorr(r, 1)) < 0.05).all()


@pytest.mark.parametrize("correlation", [0.3, 0.65])
def test_mean_pairwise_correlation_is_the_configured_one(correlation: float) -> None:
    r = returns(market(20_000, model=MarketModel(correlation=correlation), names=[f"S{i}" for i in range(6)]))
    assert abs(mean_pairwise_corr(r) - correlation) < 0.07


def test_basis_is_a_few_bps_bounded_and_mean_reverting(long_sample: dict[str, np.ndarray]) -> None:
    basis = long_sample["mark_close"] / long_sample["close"] - 1
    assert 2e-4 < float(np.abs(basis).max()) < 1e-2  # never more than a few tens of bps
    assert float(basis.std()) < 2e-3 and abs(float(basis.mean())) < 3e-4
    b = basis[:, 0] - basis[:, 0].mean()
    lag1 = float(np.corrcoef(b[:-1], b[1:])[0, 1])
    lag_day = float(np.corrcoef(b[:-1440], b[1440:])[0, 1])
    assert 0.5 < lag1 < 1 and abs(lag_day) < 0.2  # persistent minute to minute, forgotten within a day
    crossings = np.count_nonzero(np.diff(np.sign(b)))
    assert crossings > 50  # it keeps coming back to its mean


def test_funding_only_at_eight_hour_instants_mostly_the_interest_rate(long_sample: dict[str, np.ndarray]) -> None:
    rates, times = long_sample["funding_rate"], long_sample["open_time"]
    instants = times % (8 * HOUR_MS) == 0
    assert instants.sum() >= 80
    assert not np.isnan(rates[instants]).any() and np.isnan(rates[~instants]).all()
    paid = rates[instants]
    assert (np.abs(paid) <= 0.0075).all()
    at_interest = np.mean(paid == 0.0001)
    assert 0.4 < at_interest < 0.95  # as on Binance: mostly exactly 0.01 %, a persistent premium moves it
    np.testing.assert_array_equal(np.round(paid, 8), paid)


def test_prices_on_the_tick_grid_when_price_decimals_are_given() -> None:
    chunk = next(synthetic_market(["A", "B"], [100.0, 0.5], 2_000, seed=9, price_decimals=[2, 4]))
    for name in ("open", "high", "low", "close", "mark_open", "mark_high", "mark_low", "mark_close"):
        scaled = getattr(chunk, name) * np.array([100.0, 10_000.0])
        np.testing.assert_allclose(scaled, np.rint(scaled), rtol=0, atol=1e-6, err_msg=name)
    assert (chunk.low <= np.minimum(chunk.open, chunk.close)).all()
    assert (chunk.mark_low <= np.minimum(chunk.mark_open, chunk.mark_close)).all()


def test_market_chunks_slice_and_carry_marks_to_replays() -> None:
    chunk = next(synthetic_market(["A", "B"], [1.0, 2.0], 10, seed=1))
    part = chunk.slice(2, 5)
    assert isinstance(part, MarketChunk) and len(part) == 3
    np.testing.assert_array_equal(part.mark_close, chunk.mark_close[2:5])
    np.testing.assert_array_equal(marks_of(chunk).close, chunk.mark_close)
    plain = BarChunk(chunk.symbols, chunk.open_time, chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume,
                     chunk.interval_ms)
    assert np.isnan(marks_of(plain).close).all() and list(funding_rows(plain)) == []
    rounded = marks_of(chunk, [2, 3])
    np.testing.assert_array_equal(rounded.close, np.round(chunk.mark_close * [100.0, 1000.0]) / [100.0, 1000.0])
    assert (rounded.low <= np.minimum(rounded.open, rounded.close)).all()
    assert (rounded.high >= np.maximum(rounded.open, rounded.close)).all()
    with pytest.raises(ValueError, match="mark_close"):
        MarketChunk(chunk.symbols, chunk.open_time, chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume,
                    chunk.interval_ms, chunk.mark_open, chunk.mark_high, chunk.mark_low, chunk.mark_close[:1],
                    chunk.funding_rate)


def test_funding_rates_reach_the_recorder_one_chunk_before_their_instant() -> None:
    """A simulator settles funding when its clock reaches the instant, possibly before the chunk holding
    that bar is asked for: the rates must already be there."""
    recorded: dict[str, list[tuple[int, Decimal]]] = {}
    start = 8 * HOUR_MS * 1000 - 100 * 60_000  # 100 bars before an instant: it is in the second chunk
    chunks = synthetic_market(["A", "B"], [1.0, 2.0], 1_200, seed=3, chunk_bars=64, start_ms=start)
    stream = funding_ahead(chunks, lambda symbol, rows: recorded.__setitem__(symbol, list(rows)))
    first = next(stream)
    assert int(first.open_time[-1]) < 8 * HOUR_MS * 1000
    assert [t for t, _ in recorded["A"]] == [8 * HOUR_MS * 1000]  # known while the first chunk plays
    rest = list(stream)
    assert sum(len(c) for c in (first, *rest)) == 1_200
    [(time_ms, rate)] = [row for symbol, row in funding_rows(rest[0]) if symbol == "B"]
    assert recorded["B"][0] == (time_ms, rate) and rate == Decimal(f"{rate:.8f}")
