"""What a session is built from, before anything runs: the exchange adapter, the symbols, the clock and the
bar feed (synthetic, a replay with its recorded marks and funding, or the exchange's streams), and the
risk rules from the settings.

Kept apart from the session (session.py) so the wiring of a market can be tested, and reused by the
backtest job, without starting a session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.clock import Clock, SimulatedClock, WallClock
from ..domain.errors import ConfigError
from ..domain.kline_source import kline_paths
from ..exchange.budget import WeightBudget
from ..exchange.clock_sync import ClockReading
from ..exchange.factory import connect
from ..exchange.mark_board import MarkBoard
from ..exchange.order_rate import OrderRate
from ..exchange.port import Exchange
from ..feeds.live_feed import WsKlineFeed, feed_from_settings
from ..feeds.market_feed import BarFeed
from ..feeds.warmup import SyntheticHistory, synthetic_history
from ..marketdata.bars import BarChunk, bars_from, iter_binance_klines, kline_symbol, replay_symbols
from ..marketdata.companions import companions_of
from ..marketdata.synthetic import funding_ahead, marks_of, synthetic_market
from ..settings.model import Settings
from ..sim.engine import ExchangeSimulator
from ..sim.recorded_funding import use_recorded_funding
from ..sim.replay_mark import MarkBars
from ..sim.universe import Universe, load_universe
from .account_name import exchange_account_name, paper_account_name
from .paper_account import open_paper_account
from .startup import closing_on_error

MINUTE_MS = 60_000


@dataclass
class Parts:
    exchange: Exchange
    sim: ExchangeSimulator | None
    symbols: tuple[str, ...]
    clock: Clock
    feed: BarFeed | WsKlineFeed
    #: The request budget every REST call of a URL adapter passes (None in process: nothing to count).
    budget: WeightBudget | None = None
    #: The measured offset between this machine's clock and the exchange's (None in process: one clock).
    exchange_clock: ClockReading | None = None
    #: Task M (issue 11): the synthetic market's bars before the start, a warming strategy's history (warmup.py).
    history: SyntheticHistory | None = None
    #: The account traded, named without secrets (account_name.py); None: no account of its own to name.
    account: str | None = None


async def build_parts(settings: Settings, *, journal_id: str | None = None) -> Parts:
    """`journal_id`: the session's journal, which must own the in-process paper account it resumes."""
    universe = load_universe()
    if settings.exchange == "sim":
        symbols = requested(settings, universe.top(len(universe.symbols)))
        unknown = [s for s in symbols if s not in universe.symbols]
        if unknown:
            raise ConfigError(f"QT_SYMBOLS={','.join(unknown)}: not in the simulator's universe of "
                              f"{len(universe.symbols)} perpetuals")
        symbols = replayed(settings, symbols)
        # The paper account survives restarts (QT_PAPER_STATE); the market continues from its prices and time.
        account = open_paper_account(settings, {s: universe.instrument(s) for s in symbols},
                                     _start_ms(settings, symbols), journal_id=journal_id)
        sim = account.sim
        prices = {s: float(sim.last_price(s)) for s in symbols}
        first_ms, chunks = _bar_source(settings, symbols, prices, start_ms=account.start_ms, seed=account.seed)
        history = synthetic_history(settings.feed, symbols, [prices[s] for s in symbols], seed=account.seed,
                                    start_ms=first_ms)  # task M: the synthetic market's past (feeds/warmup.py)
        marks = _recorded_marks_and_funding(settings, sim, symbols)
        if settings.feed == "synthetic":
            chunks, marks = _synthetic_marks_and_funding(chunks, sim)
        clock: Clock = SimulatedClock(account.start_ms)
        # The simulator's time follows the session's clock at every order, so a fill is never stamped before it.
        exchange: Exchange = await connect("sim", paper=True, sim=sim, now_ms=clock.now_ms)
        return Parts(exchange, sim, symbols, clock, BarFeed(settings.feed, chunks, speed=settings.speed_factor,
                                                            clock=clock, sim=sim, marks=marks), history=history,
                     account=paper_account_name(account.store.account_id))
    budget = WeightBudget(share_pct=settings.weight_budget_pct,
                          orders=OrderRate(entry_share_pct=settings.order_entry_pct))
    exchange_clock = ClockReading()
    streamed = MarkBoard()  # the exchange feed's marks (if that is the feed): the adapter's `mark_since`
    exchange = await connect(settings.exchange, paper=settings.paper_trading,
                             api_key=settings.api_key.get_secret_value() if settings.api_key else None,
                             api_secret=settings.api_secret.get_secret_value() if settings.api_secret else None,
                             budget=budget, reading_interval_s=settings.reconcile_interval, ws_url=settings.ws_url,
                             clock_reading=exchange_clock, marks=streamed, setting=settings.name_of("exchange"))
    # The first signed call (instruments: leverage brackets) is where a wrong key or secret fails: the adapter's
    # HTTP client must be closed then too, or the one line naming QT_API_KEY is followed by aiohttp's and ccxt's
    # complaints about a client left open.
    async with closing_on_error(exchange):
        parts = await _url_parts(settings, universe, exchange, budget, streamed)
    parts.exchange_clock = exchange_clock
    parts.account = exchange_account_name(settings.exchange,
                                          settings.api_key.get_secret_value() if settings.api_key else None)
    return parts


async def _url_parts(settings: Settings, universe: Universe, exchange: Exchange, budget: WeightBudget,
                     marks: MarkBoard) -> Parts:
    """The symbols, clock and feed of a URL exchange (a simulator server, the testnet or production)."""
    instruments = await exchange.instruments()
    symbols = replayed(settings, requested(settings, [s for s in universe.top(len(universe.symbols))
                                                     if s in instruments]))
    if settings.feed == "exchange":
        # Closed klines over the market websockets, REST-backfilled through the adapter (feeds/live_feed.py).
        feed = feed_from_settings(settings, symbols, exchange.klines, marks=marks)
        return Parts(exchange, None, symbols, WallClock(), feed, budget)
    marks_now = await exchange.mark_prices(symbols)
    start_ms = _start_ms(settings, symbols)
    first_ms, chunks = _bar_source(settings, symbols, {s: float(p) for s, p in marks_now.items()}, start_ms=start_ms)
    clock = SimulatedClock(start_ms)
    return Parts(exchange, None, symbols, clock, BarFeed(settings.feed, chunks, speed=settings.speed_factor,
                                                         clock=clock), budget,
                 history=synthetic_history(settings.feed, symbols, [float(marks_now[s]) for s in symbols],
                                           seed=settings.seed, start_ms=first_ms))  # task M


def _recorded_marks_and_funding(settings: Settings, sim: ExchangeSimulator, symbols: tuple[str, ...],
                                ) -> Callable[[BarChunk], MarkBars] | None:
    """A replay with mark-price klines and funding files beside its klines (marketdata/companions.py): the
    in-process simulator pays the recorded funding, and the feed gets the chunks' recorded marks."""
    if not settings.feed.startswith("replay:"):
        return None
    companions = companions_of(Path(settings.feed.removeprefix("replay:")))
    if not companions:
        return None
    use_recorded_funding(sim, companions.funding(symbols))
    aligner = companions.marks(symbols)
    return None if aligner is None else aligner.align


def requested(settings: Settings, ranked: Sequence[str]) -> tuple[str, ...]:
    """QT_SYMBOLS: its list, or that many of `ranked` (the universe by liquidity); left unset with a replay
    feed, every one of them, and the replay's files choose (`replayed`)."""
    if settings.symbol_list:
        return settings.symbol_list
    if "symbols" not in settings.model_fields_set and settings.feed.startswith("replay:"):
        return tuple(ranked)
    return tuple(ranked[:settings.symbol_count or 222])


def replayed(settings: Settings, symbols: Sequence[str]) -> tuple[str, ...]:
    """The symbols a session trades: with a replay feed, those of `symbols` (QT_SYMBOLS) its files hold, in
    their order. A 3-symbol replay under the default QT_SYMBOLS (222) logged `symbols=222`, and a QT_SYMBOLS
    list left the replay's other symbols in the strategy's bars; none in common is a ConfigError."""
    if not settings.feed.startswith("replay:"):
        return tuple(symbols)
    held = replay_symbols(settings.feed.removeprefix("replay:"))
    traded = tuple(s for s in symbols if s in held)
    if not traded:
        raise ConfigError(f"{settings.name_of('symbols')}={settings.symbols}: the replay "
                          f"{settings.name_of('feed')}={settings.feed} holds none of them (it holds "
                          f"{', '.join(held)}); give some of those, or data of these symbols")
    return traded


def _replay_files(settings: Settings, symbols: Sequence[str]) -> list[Path]:
    """The replay's kline files of the symbols traded (the others are never read)."""
    return [p for p in kline_paths(settings.feed.removeprefix("replay:")) if kline_symbol(p) in symbols]


def _start_ms(settings: Settings, symbols: Sequence[str]) -> int:
    """Where a fresh session's clock starts: a replay's first bar's open, else the wall's time now (not its
    minute: the clock of a session at `--speed 1` is the wall's, and the bar in progress plays at its close)."""
    if settings.feed.startswith("replay:"):
        first = next(iter_binance_klines(_replay_files(settings, symbols), chunk_bars=1))
        return int(first.open_time[0])
    return time.time_ns() // 1_000_000


def _bar_source(settings: Settings, symbols: tuple[str, ...], prices: dict[str, float], *,
                start_ms: int, seed: int | tuple[int, int] | None = None,
                ) -> tuple[int, Callable[[], Iterator[BarChunk]]]:
    """The open of the first bar and the bars from there: the one in progress at `start_ms` (the clock's
    start), which closes after it, then the next; a resumed paper account gives its own start and seed."""
    first = start_ms - start_ms % MINUTE_MS
    if settings.feed.startswith("replay:"):
        files = _replay_files(settings, symbols)
        return first, lambda: bars_from(iter_binance_klines(files, chunk_bars=256), first)
    names = list(symbols)
    path_seed = settings.seed if seed is None else seed
    # The crypto-like market (heavy tails, clustering, market factor, gaps, mark basis, funding).
    return first, lambda: synthetic_market(names, [prices[s] for s in names], 10**9, MINUTE_MS, seed=path_seed,
                                           chunk_bars=64, start_ms=first)


def _synthetic_marks_and_funding(chunks: Callable[[], Iterator[BarChunk]], sim: ExchangeSimulator,
                                 ) -> tuple[Callable[[], Iterator[BarChunk]], Callable[[BarChunk], MarkBars]]:
    """The synthetic market's own marks (so MARK_PRICE stops see the basis; two digits finer than the price, as
    Binance's) and funding rates (handed to the simulator a chunk ahead of their instants: synthetic.funding_ahead)."""
    def marks(chunk: BarChunk) -> MarkBars:
        return marks_of(chunk, [sim.instrument(s).price_precision + 2 for s in chunk.symbols])

    return lambda: funding_ahead(chunks(), sim.state.funding_rates.set_series), marks
