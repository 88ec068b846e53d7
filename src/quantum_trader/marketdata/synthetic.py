"""A seeded synthetic market that moves like crypto perpetuals: the default market of paper sessions.

`bars.synthetic_bars` is a plain Gaussian random walk, kept as is because many tests pin its output. A bot
tested only on that never meets what hurts on a real exchange, so `synthetic_market` adds, per bar of
one minute (defaults calibrated on Binance USDⓈ-M 1m klines, see tools/synthetic_vs_real.py):

- heavy tails: Student-t innovations (unit variance) instead of Gaussian ones;
- volatility clustering: a GARCH(1,1) variance per symbol and one for the market (calm hours, busy hours);
- a common market factor: r_s = beta_s × market + idiosyncratic, so symbols fall together and a
  portfolio of "different" positions is not diversified; beta_s = vol_s / vol and every pair's
  correlation is `correlation` (per-symbol vols, hence betas, come from the symbol's name so that a symbol
  keeps them whatever the seed or the other symbols);
- jumps that gap through stops: a bar may open away from the previous close, per symbol or market-wide;
- a basis between mark and last (mark = last × (1 + basis)): a fast and a slow mean-reverting AR(1) of
  a few basis points, so MARK_PRICE and CONTRACT_PRICE stops differ;
- funding at every funding instant (00:00, 08:00, 16:00 UTC): Binance's formula on the premium (−basis)
  averaged since the previous instant, premium + clamp(interest − premium, ±0.05 %) capped, so most rates
  are exactly 0.01 % and a persistent premium moves them.

Same arguments → identical arrays whatever `chunk_bars` is: every random quantity has its own PCG64
stream drawn in bar order, and the recursions (variances, basis, funding average, log price) are
carried between chunks element by element.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from .bars import DEFAULT_CHUNK_BARS, F64, I64, SYNTHETIC_START_MS, BarChunk, _round_prices
from .companions import MarkBars

HOUR_MS = 3_600_000
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MarketModel:
    """The synthetic market's parameters; the defaults look like Binance USDⓈ-M 1m alt-coin bars."""

    vol: float = 0.0014  # median per-bar std of log returns (real 2023-02/2026-02: 0.0011–0.0017)
    vol_dispersion: float = 0.15  # lognormal spread of per-symbol vols (hence betas ~0.8–1.25)
    correlation: float = 0.65  # pairwise correlation of returns (real: 0.58 in 2023-02, 0.74 in 2026-02)
    tail_df: float = 4.0  # Student-t degrees of freedom of the innovations (> 2)
    garch_alpha: float = 0.09  # weight of the last squared shock in the next variance
    garch_beta: float = 0.90  # persistence of the variance (alpha + beta < 1): |r| stays correlated for hours
    jump_prob: float = 0.0002  # per symbol and bar: the bar opens with a gap
    market_jump_prob: float = 0.00005  # per bar: every symbol gaps together (scaled by its beta)
    jump_vol: float = 0.01  # std of a gap's log size
    wick: float = 0.35  # mean wick beyond the body, in units of the bar's conditional std
    mark_wick: float = 0.5  # the mark's wicks relative to the last's (the mark is smoother)
    basis_bps: float = 2.0  # std of the fast basis component
    basis_half_life_bars: float = 5.0
    premium_bps: float = 6.0  # std of the slow component (what funding reads): ~1/3 of rates leave 0.01 %
    premium_half_life_bars: float = 240.0
    funding_interval_hours: int = 8
    funding_interest: float = 0.0001  # 0.01 % per interval
    funding_clamp: float = 0.0005  # ±0.05 % band around the interest rate
    funding_cap: float = 0.0075  # |rate| at most 0.75 %
    volume: float = 1000.0
    max_variance: float = 100.0  # a conditional std at most 10× the usual one

    def __post_init__(self) -> None:
        if not (self.tail_df > 2 and 0 <= self.correlation < 1 and self.vol > 0):
            raise ValueError("need tail_df > 2, 0 <= correlation < 1 and vol > 0")
        if not (self.garch_alpha >= 0 and self.garch_beta >= 0 and self.garch_alpha + self.garch_beta < 1):
            raise ValueError("need garch_alpha, garch_beta >= 0 with garch_alpha + garch_beta < 1")
        if self.funding_interval_hours < 1 or 24 % self.funding_interval_hours:
            raise ValueError("funding_interval_hours must divide a day")


@dataclass(frozen=True, eq=False)
class MarketChunk(BarChunk):
    """A `BarChunk` with the mark price's OHLC ([T, S]) and the funding rate paid at each bar's open
    ([T, S], NaN except at funding instants): anything that takes a BarChunk takes this."""

    mark_open: F64
    mark_high: F64
    mark_low: F64
    mark_close: F64
    funding_rate: F64

    def __post_init__(self) -> None:
        super().__post_init__()
        shape = self.close.shape
        for name in ("mark_open", "mark_high", "mark_low", "mark_close", "funding_rate"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"MarketChunk.{name} has shape {getattr(self, name).shape}, expected {shape}")

    @property
    def marks(self) -> MarkBars:
        """The mark OHLC in the shape replays take (sim/replay_mark.MarkBars)."""
        return MarkBars(self.mark_open, self.mark_high, self.mark_low, self.mark_close)

    def slice(self, t0: int, t1: int) -> MarketChunk:
        """Bars [t0, t1) as views (no copy), marks and funding included."""
        base = super().slice(t0, t1)
        return MarketChunk(base.symbols, base.open_time, base.open, base.high, base.low, base.close, base.volume,
                           base.interval_ms, self.mark_open[t0:t1], self.mark_high[t0:t1], self.mark_low[t0:t1],
                           self.mark_close[t0:t1], self.funding_rate[t0:t1])


def symbol_vols(symbols: Sequence[str], model: MarketModel) -> F64:
    """Each symbol's usual per-bar std, from its name (stable across seeds, sessions and symbol lists)."""
    draws = [np.random.default_rng(zlib.crc32(s.encode())).standard_normal() for s in symbols]
    return model.vol * np.exp(model.vol_dispersion * np.asarray(draws, np.float64))


def symbol_betas(symbols: Sequence[str], model: MarketModel) -> F64:
    """beta_s of r_s = beta_s × market + idiosyncratic, the market being the factor's return at `vol`."""
    return symbol_vols(symbols, model) / model.vol


@dataclass
class _State:
    """What one chunk hands the next: the recursions' last values."""

    log_close: F64
    variance: F64  # [S + 1]: idiosyncratic variances then the market's, in units of the usual variance
    basis: F64  # [2, S]: fast and slow components
    premium_sum: F64  # [S]: premium summed since the last funding instant
    premium_bars: int = 0


@dataclass
class _Paths:
    """One chunk's per-bar conditional stds ([T, S + 1], in units of the usual std), basis and funding ([T, S])."""

    std: F64
    basis: F64
    funding: F64


class _Draws:
    """One PCG64 stream per random quantity, so a chunk's draws never depend on the chunk size."""

    NAMES = ("shock", "market", "gap_u", "gap_z", "mjump_u", "mjump_z", "up", "down", "qty", "basis")

    def __init__(self, seed: int | Sequence[int]) -> None:
        streams = np.random.SeedSequence(seed).spawn(len(self.NAMES))
        self.rng = {n: np.random.Generator(np.random.PCG64(s)) for n, s in zip(self.NAMES, streams, strict=True)}

    def student(self, name: str, shape: tuple[int, ...], df: float) -> F64:
        """Student-t draws scaled to unit variance."""
        return self.rng[name].standard_t(df, shape) * math.sqrt((df - 2) / df)


def _recursions(z: F64, eta: F64, instants: Bools, state: _State, model: MarketModel) -> _Paths:
    """GARCH variances, the AR(1) basis and the funding average, bar by bar (vectorised over symbols).

    A loop over the bars is the simplest exact recursion; each step is a few numpy operations on S-long
    arrays (the whole market, 222 symbols × 10,000 bars, takes about 0.5 s on the 2-core dev machine)."""
    n, n_sym = eta.shape[0], eta.shape[2]
    a, b = model.garch_alpha, model.garch_beta
    omega = 1.0 - a - b
    phi = _phi(model)
    std, basis = np.empty((n, n_sym + 1)), np.empty((n, n_sym))
    funding = np.full((n, n_sym), np.nan)
    h, x, acc, count = state.variance, state.basis, state.premium_sum, state.premium_bars
    for t in range(n):
        if instants[t]:
            funding[t] = _funding_rate(acc / count if count else np.zeros(n_sym), model)
            acc, count = np.zeros(n_sym), 0
        sd = np.sqrt(h)
        std[t] = sd
        h = np.minimum(omega + a * (sd * z[t]) ** 2 + b * h, model.max_variance)
        x = phi * x + eta[t]
        basis[t] = x[0] + x[1]
        acc = acc - basis[t]  # the premium of last over mark
        count += 1
    state.variance, state.basis, state.premium_sum, state.premium_bars = h, x, acc, count
    return _Paths(std, basis, funding)


def _phi(model: MarketModel) -> F64:
    """[2, 1] AR(1) coefficients of the fast and slow basis components, from their half-lives in bars."""
    return np.array([[0.5 ** (1 / model.basis_half_life_bars)], [0.5 ** (1 / model.premium_half_life_bars)]])


def _funding_rate(premium: F64, model: MarketModel) -> F64:
    """Binance's rate: premium + clamp(interest − premium, ±clamp), capped, to 8 decimals as published."""
    i = model.funding_interest
    rate = premium + np.clip(i - premium, -model.funding_clamp, model.funding_clamp)
    return np.clip(rate, -model.funding_cap, model.funding_cap).round(8)


def _gaps(draws: _Draws, shape: tuple[int, int], betas: F64, model: MarketModel) -> F64:
    """Log gaps at the bars' opens: a symbol's own, and market-wide ones scaled by beta."""
    own = np.where(draws.rng["gap_u"].random(shape) < model.jump_prob,
                   draws.rng["gap_z"].standard_normal(shape) * model.jump_vol, 0.0)
    market = np.where(draws.rng["mjump_u"].random(shape[0]) < model.market_jump_prob,
                      draws.rng["mjump_z"].standard_normal(shape[0]) * model.jump_vol, 0.0)
    return own + market[:, None] * betas


def _mark_bars(o: F64, h: F64, lo: F64, c: F64, basis: F64, basis_open: F64,
               model: MarketModel) -> tuple[F64, F64, F64, F64]:
    """Mark OHLC: open and close at last × (1 + basis) of their moment, wicks a fraction of the last's."""
    mo, mc = o * (1 + basis_open), c * (1 + basis)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    mh = np.maximum(mo, mc) * (h / top) ** model.mark_wick
    ml = np.minimum(mo, mc) * (lo / bottom) ** model.mark_wick
    return mo, mh, ml, mc


def _chunk_times(start_ms: int, interval_ms: int, t0: int, n: int, model: MarketModel) -> tuple[I64, Bools]:
    """The chunk's open times, and which of them are funding instants (multiples of the interval from the epoch)."""
    times = start_ms + interval_ms * np.arange(t0, t0 + n, dtype=np.int64)
    return times, times % (HOUR_MS * model.funding_interval_hours) == 0


def _chunk(symbols: tuple[str, ...], times: I64, instants: Bools, interval_ms: int, draws: _Draws, state: _State,
           vols: F64, decimals: npt.NDArray[np.int64] | None, model: MarketModel) -> MarketChunk:
    n, n_sym = len(times), len(symbols)
    shape = (n, n_sym)
    z = np.empty((n, n_sym + 1))
    z[:, :n_sym] = draws.student("shock", shape, model.tail_df)
    z[:, n_sym] = draws.student("market", (n,), model.tail_df)
    phi = _phi(model)
    scale = np.array([model.basis_bps, model.premium_bps]) * 1e-4 * np.sqrt(1 - phi[:, 0] ** 2)
    eta = draws.rng["basis"].standard_normal((n, 2, n_sym)) * scale[:, None]
    basis_before = state.basis.sum(axis=0)
    paths = _recursions(z, eta, instants, state, model)
    rho = model.correlation
    shocks = paths.std * z
    diffusion = vols * (math.sqrt(rho) * shocks[:, n_sym:] + math.sqrt(1 - rho) * shocks[:, :n_sym])
    cond = vols * np.sqrt(rho * paths.std[:, n_sym:] ** 2 + (1 - rho) * paths.std[:, :n_sym] ** 2)
    gaps = _gaps(draws, shape, vols / model.vol, model)
    logs = np.cumsum(np.vstack([state.log_close, gaps + diffusion]), axis=0)
    state.log_close = logs[-1]
    closes = np.exp(logs)
    o, c = closes[:-1] * np.exp(gaps), closes[1:]
    h = np.maximum(o, c) * np.exp(draws.rng["up"].exponential(1.0, shape) * model.wick * cond)
    lo = np.minimum(o, c) * np.exp(-draws.rng["down"].exponential(1.0, shape) * model.wick * cond)
    basis_open = np.vstack([basis_before, paths.basis[:-1]])
    mo, mh, ml, mc = _mark_bars(o, h, lo, c, paths.basis, basis_open, model)
    if decimals is not None:
        o, h, lo, c = _round_prices(o, h, lo, c, decimals)
        mo, mh, ml, mc = _round_prices(mo, mh, ml, mc, decimals)
    volume = model.volume * cond / vols * np.exp(0.5 * draws.rng["qty"].standard_normal(shape))
    return MarketChunk(symbols, times, o, h, lo, c, volume, interval_ms, mo, mh, ml, mc, paths.funding)


def synthetic_market(
    symbols: Sequence[str],
    start_prices: Sequence[float],
    n_bars: int,
    interval_ms: int = 60_000,
    *,
    seed: int | Sequence[int],
    chunk_bars: int = DEFAULT_CHUNK_BARS,
    start_ms: int = SYNTHETIC_START_MS,
    price_decimals: int | Sequence[int] | None = None,
    model: MarketModel | None = None,
) -> Iterator[MarketChunk]:
    """Seeded crypto-like bars with marks and funding, streamed in chunks (see the module doc).

    `seed` may be several integers (a resumed paper account passes (seed, start time)); `price_decimals`
    snaps last and mark prices to each symbol's decimal grid (high up, low down, so OHLC stays consistent).
    """
    model = model or MarketModel()
    n_sym = len(symbols)
    if len(start_prices) != n_sym or n_sym == 0:
        raise ValueError(f"need one start price per symbol: {n_sym} symbols, {len(start_prices)} prices")
    if chunk_bars < 1 or n_bars < 0:
        raise ValueError("chunk_bars must be >= 1 and n_bars >= 0")
    draws = _Draws(seed)
    vols = symbol_vols(symbols, model)
    decimals = None if price_decimals is None else np.broadcast_to(np.asarray(price_decimals, np.int64), n_sym)
    state = _State(np.log(np.asarray(start_prices, np.float64)), np.ones(n_sym + 1), np.zeros((2, n_sym)),
                   np.zeros(n_sym))
    for t0 in range(0, n_bars, chunk_bars):
        n = min(chunk_bars, n_bars - t0)
        times, instants = _chunk_times(start_ms, interval_ms, t0, n, model)
        yield _chunk(tuple(symbols), times, instants, interval_ms, draws, state, vols, decimals, model)


def marks_of(chunk: BarChunk, decimals: Sequence[int] | None = None) -> MarkBars:
    """A chunk's mark OHLC: a MarketChunk's own, else NaN (no recorded mark: the replay keeps mark = last).
    `decimals` (per symbol) rounds them to nearest, as Binance publishes marks a few digits finer than the tick."""
    if not isinstance(chunk, MarketChunk):
        nan = np.full(chunk.close.shape, np.nan)
        return MarkBars(nan, nan, nan, nan)
    if decimals is None:
        return chunk.marks
    scale = 10.0 ** np.asarray(decimals, np.float64)
    o, h, lo, c = (np.rint(x * scale) / scale for x in (chunk.mark_open, chunk.mark_high, chunk.mark_low,
                                                         chunk.mark_close))
    return MarkBars(o, np.maximum(h, np.maximum(o, c)), np.minimum(lo, np.minimum(o, c)), c)


def funding_rows(chunk: BarChunk) -> Iterator[tuple[str, tuple[int, Decimal]]]:
    """(symbol, (funding time ms, rate)) of a MarketChunk in time order, rates as the 8-decimal Decimals
    Binance publishes; nothing for a plain BarChunk."""
    if not isinstance(chunk, MarketChunk):
        return
    for t in np.flatnonzero(~np.isnan(chunk.funding_rate).all(axis=1)):
        for s, symbol in enumerate(chunk.symbols):
            rate = float(chunk.funding_rate[t, s])
            if rate == rate:  # not NaN
                yield symbol, (int(chunk.open_time[t]), Decimal(f"{rate:.8f}"))


FundingRecorder = Callable[[str, list[tuple[int, Decimal]]], None]


def funding_ahead(chunks: Iterable[BarChunk], record: FundingRecorder, keep: int = 3) -> Iterator[BarChunk]:
    """The chunks one behind the generator, handing each symbol's latest funding rows to `record` (e.g.
    `FundingRates.set_series`) a chunk early.

    A rate is known before its instant (it averages the premium of the bars before it; Binance publishes
    it as the predicted rate), and a simulator settles funding as soon as its clock reaches the instant,
    possibly before the chunk holding that bar is asked for: one chunk of lead means the rate is always
    in place. Only the last `keep` rows per symbol are kept, so memory stays flat on an endless market."""
    rows: dict[str, list[tuple[int, Decimal]]] = {}
    previous: BarChunk | None = None
    for chunk in chunks:
        for symbol, row in funding_rows(chunk):
            rows[symbol] = [*rows.get(symbol, []), row][-keep:]
            record(symbol, rows[symbol])
        if previous is not None:
            yield previous
        previous = chunk
    if previous is not None:
        yield previous
