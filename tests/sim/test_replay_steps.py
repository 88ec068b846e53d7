"""`BarReplayer.steps`: the replay suspends where the caller asks and where triggers fire, and stays exact.

The reference for exactness is always a plain bar-by-bar run through `apply_bar` in which the caller's
actions happen after the whole bar, the moment a bar-driven backtest would act. The liquidity model is
pinned to its calm shape, as in test_replay_equivalence.py (the volatility estimate is updated only on
bars that are replayed).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pytest

from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.events import Event
from quantum_trader.sim.liquidity import LiquidityModel
from quantum_trader.sim.replay import BarReplayer
from quantum_trader.sim.replay_step import ReplayStep
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
#: An action at (chunk number, bar index): what a backtest engine does while the replay is suspended.
Action = Callable[[ExchangeSimulator, int, int], None]


def _simulator() -> ExchangeSimulator:
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS},
                            SimConfig(balance=Decimal(100_000), default_leverage=10),
                            liquidity=LiquidityModel(max_widening=1.0))
    for symbol in SYMBOLS:
        sim.set_margin_type(symbol, "ISOLATED")
    sim.set_prices({s: universe.instrument(s).typical_price for s in SYMBOLS})
    return sim


def _chunks(n_bars: int = 3_000, chunk_bars: int = 700) -> list[BarChunk]:
    universe = load_universe()
    prices = [float(universe.instrument(s).typical_price) for s in SYMBOLS]
    return list(synthetic_bars(SYMBOLS, prices, n_bars, seed=11, chunk_bars=chunk_bars, vol=0.002,
                               jump_prob=0.002, start_ms=1_767_225_660_000))


def _grid(sim: ExchangeSimulator, symbol: str, value: float) -> Decimal:
    """A chunk price on the symbol's tick grid, as the replayer snaps it."""
    tick = float(sim.instrument(symbol).tick_size)
    return sim.instrument(symbol).round_price(Decimal(repr(float(np.round(value / tick) * tick))))


def _protect(sim: ExchangeSimulator, symbol: str, long: bool, stop: str = "-0.01", take: str = "0.015") -> None:
    inst = sim.instrument(symbol)
    price = sim.last_price(symbol)
    qty = inst.round_qty(Decimal(3000) / price) + inst.step_size
    side, exit_side, sign = ("BUY", "SELL", 1) if long else ("SELL", "BUY", -1)
    sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(qty)})
    entry = sim.position(symbol).entry_price
    for kind, pct in (("STOP_MARKET", Decimal(stop)), ("TAKE_PROFIT_MARKET", Decimal(take))):
        trigger = inst.round_price(entry * (1 + sign * pct))
        sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": symbol, "side": exit_side, "type": kind,
                            "triggerPrice": str(trigger), "closePosition": "true", "workingType": "MARK_PRICE"})


def _protected_sim() -> ExchangeSimulator:
    sim = _simulator()
    for i, symbol in enumerate(SYMBOLS):
        _protect(sim, symbol, long=i % 2 == 0)
    return sim


def _bar_by_bar(sim: ExchangeSimulator, chunks: list[BarChunk], act: Action) -> ExchangeSimulator:
    for k, chunk in enumerate(chunks):
        for t in range(len(chunk)):
            sim.set_time(int(chunk.open_time[t]))
            for s, symbol in enumerate(SYMBOLS):
                ohlc = [_grid(sim, symbol, float(x)) for x in
                        (chunk.open[t, s], chunk.high[t, s], chunk.low[t, s], chunk.close[t, s])]
                sim.apply_bar(symbol, *ohlc)
            act(sim, k, t)
    return sim


def _stepped(sim: ExchangeSimulator, chunks: list[BarChunk], stops: list[npt.NDArray[np.bool_] | None],
             act: Action) -> list[list[ReplayStep]]:
    replayer = BarReplayer(sim, SYMBOLS)
    seen: list[list[ReplayStep]] = []
    for k, chunk in enumerate(chunks):
        seen.append([])
        for step in replayer.steps(chunk, stops[k]):
            seen[-1].append(step)
            if step.stopped:
                act(sim, k, step.t)
    return seen


def _no_action(_sim: ExchangeSimulator, _k: int, _t: int) -> None:
    return None


def _random_stops(chunks: list[BarChunk], density: float, seed: int) -> list[npt.NDArray[np.bool_] | None]:
    rng = np.random.default_rng(seed)
    return [rng.random((len(c), len(SYMBOLS))) < density for c in chunks]


def test_steps_stop_exactly_at_the_requested_bars_with_their_symbols() -> None:
    chunks = _chunks(1_400)
    stops = _random_stops(chunks, 0.01, seed=3)
    for chunk, mask in zip(chunks, stops, strict=True):  # the edges too: first and last bar, funding bars
        assert mask is not None
        mask[0, 0] = mask[-1, 2] = True
        mask[chunk.open_time % (8 * 3_600_000) == 0, 1] = True
    assert any(bool((c.open_time % (8 * 3_600_000) == 0).any()) for c in chunks)
    sim = _protected_sim()
    replayer = BarReplayer(sim, SYMBOLS)
    for chunk, mask in zip(chunks, stops, strict=True):
        assert mask is not None
        steps = []
        for step in replayer.steps(chunk, mask):
            steps.append(step)
            assert step.open_time_ms == int(chunk.open_time[step.t])
            for symbol in step.symbols:  # every replayed symbol stands at this bar's close
                assert sim.last_price(symbol) == _grid(sim, symbol, float(chunk.close[step.t, SYMBOLS.index(symbol)]))
            assert set(step.stopped) <= set(step.symbols)
            assert list(step.symbols) == sorted(step.symbols, key=SYMBOLS.index)
        expected = [(int(t), tuple(SYMBOLS[s] for s in np.flatnonzero(mask[t]))) for t in np.flatnonzero(mask.any(1))]
        assert [(s.t, s.stopped) for s in steps if s.stopped] == expected
        assert [s.t for s in steps] == sorted({s.t for s in steps})  # one step per bar, in order
    trigger_only = [e for e in sim.events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert len(trigger_only) > 3  # stops and targets fired too


def test_stops_without_actions_change_nothing() -> None:
    chunks = _chunks()
    plain = _protected_sim()
    BarReplayer(plain, SYMBOLS).run(chunks)
    stepped = _protected_sim()
    _stepped(stepped, chunks, _random_stops(chunks, 0.02, seed=5), _no_action)
    assert stepped.event_log() == plain.event_log()


def test_steps_without_stops_match_run_including_the_on_bar_hook() -> None:
    def hook(sim: ExchangeSimulator, symbol: str, open_time: int, _events: list[Event]) -> None:
        if sim.position(symbol).amount == 0:
            _protect(sim, symbol, long=(open_time // 60_000) % 3 != 0)

    chunks = _chunks()
    by_run = _protected_sim()
    BarReplayer(by_run, SYMBOLS, hook).run(chunks)
    by_steps = _protected_sim()
    replayer = BarReplayer(by_steps, SYMBOLS, hook)
    steps = [step for chunk in chunks for step in replayer.steps(chunk)]
    assert by_steps.event_log() == by_run.event_log()
    assert all(step.stopped == () and step.symbols for step in steps)
    assert sum(len(step.symbols) for step in steps) == replayer.stats.replayed_bars
    assert replayer.stats.bars == sum(len(c) for c in chunks)


def _first_bar_at_or_below(sim: ExchangeSimulator, chunk: BarChunk, symbol: str, after: int, price: Decimal) -> int:
    s = SYMBOLS.index(symbol)
    return next(t for t in range(after + 1, len(chunk)) if _grid(sim, symbol, float(chunk.low[t, s])) <= price)


@pytest.mark.parametrize("fires", ["next bar", "later bar"])
def test_stop_placed_while_suspended_fires_at_the_first_bar_that_crosses_it(fires: str) -> None:
    chunk = _chunks(700)[0]
    symbol, s = "ETHUSDT", 1
    sim0 = _simulator()
    low = [_grid(sim0, symbol, float(x)) for x in chunk.low[:, s]]
    close = [_grid(sim0, symbol, float(x)) for x in chunk.close[:, s]]
    tick = sim0.instrument(symbol).tick_size
    if fires == "next bar":  # a stop between this close and the next bar's low
        t0 = next(t for t in range(10, 600) if low[t + 1] < close[t] - 4 * tick)
        trigger = sim0.instrument(symbol).round_price((low[t0 + 1] + close[t0]) / 2)
    else:  # a stop below the next 20 bars' lows
        t0 = 100
        trigger = min(low[t0 + 1:t0 + 21]) - tick
    expected = _first_bar_at_or_below(sim0, chunk, symbol, t0, trigger)
    assert (expected == t0 + 1) == (fires == "next bar")

    def act(sim: ExchangeSimulator, _k: int, t: int) -> None:
        if t == t0:
            sim.new_order({"symbol": symbol, "side": "BUY", "type": "MARKET", "quantity": "1"})
            sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": symbol, "side": "SELL", "type": "STOP_MARKET",
                                "triggerPrice": str(trigger), "closePosition": "true", "workingType": "MARK_PRICE"})

    stops = np.zeros((len(chunk), len(SYMBOLS)), np.bool_)
    stops[t0, s] = True
    fast = _simulator()
    replayer = BarReplayer(fast, SYMBOLS)
    flat_at = None
    for step in replayer.steps(chunk, stops):
        if step.stopped:
            act(fast, 0, step.t)
        elif flat_at is None and step.t > t0 and fast.position(symbol).amount == 0:
            flat_at = step.t
            assert step.symbols == (symbol,)
    assert flat_at == expected
    slow = _bar_by_bar(_simulator(), [chunk], act)
    assert fast.event_log() == slow.event_log()
    assert fast.wallet_balance == slow.wallet_balance


def test_steps_across_chunks_with_entries_at_the_requested_bars_match_bar_by_bar() -> None:
    chunks = _chunks(3_000, 700)
    offsets = np.cumsum([0] + [len(c) for c in chunks])
    stops: list[npt.NDArray[np.bool_] | None] = []
    for k, chunk in enumerate(chunks):
        bars = offsets[k] + np.arange(len(chunk))
        stops.append(np.stack([(bars + 7 * s) % 97 == 0 for s in range(len(SYMBOLS))], axis=1))

    def enter(sim: ExchangeSimulator, k: int, t: int) -> None:
        mask = stops[k]
        assert mask is not None
        for s in np.flatnonzero(mask[t]):
            if sim.position(SYMBOLS[s]).amount == 0:
                _protect(sim, SYMBOLS[s], long=(offsets[k] + t) % 2 == 0)

    fast = _simulator()
    seen = _stepped(fast, chunks, stops, enter)
    slow = _bar_by_bar(_simulator(), chunks, enter)
    assert len(seen) == len(chunks) and all(steps for steps in seen)
    for k, steps in enumerate(seen):
        assert all(step.open_time_ms == int(chunks[k].open_time[step.t]) for step in steps)
    entries = [e for e in slow.events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert len(entries) > 20
    assert fast.event_log() == slow.event_log()
    assert fast.wallet_balance == slow.wallet_balance


def test_stops_must_have_the_chunk_shape() -> None:
    chunk = _chunks(100)[0]
    replayer = BarReplayer(_simulator(), SYMBOLS)
    with pytest.raises(ValueError, match="stops must have the chunk's shape"):
        next(replayer.steps(chunk, np.zeros((100, 2), np.bool_)))


def _midnights(chunk: BarChunk) -> list[int]:
    days = chunk.open_time // 86_400_000
    return [int(c) for c in np.flatnonzero(days[1:] != days[:-1]) + 1]


def test_checkpoints_suspend_before_each_new_day_with_the_account_as_at_its_close() -> None:
    """A backtest reads each day's closing equity at a checkpoint: the replay suspends after the day's last
    bar, before the next day's first bar and its midnight funding, with every open position at that close,
    so equity is exactly what a bar-by-bar run shows after that bar; and asking for checkpoints changes
    nothing that happens."""
    chunks = _chunks(3_000, 700)
    wanted = [_midnights(c) for c in chunks]
    assert sum(map(len, wanted)) == 2  # the data crosses two midnights, inside chunks
    reference: dict[int, Decimal] = {}
    ends = {int(c.open_time[m - 1]) for c, ms in zip(chunks, wanted, strict=True) for m in ms}

    def equity_after(sim: ExchangeSimulator, k: int, t: int) -> None:
        if int(chunks[k].open_time[t]) in ends:
            reference[int(chunks[k].open_time[t])] = sim.equity

    def wide() -> ExchangeSimulator:  # stops far enough that positions are still open at the midnights
        sim = _simulator()
        for i, symbol in enumerate(SYMBOLS):
            _protect(sim, symbol, long=i % 2 == 0, stop="-0.3", take="0.4")
        return sim

    _bar_by_bar(wide(), chunks, equity_after)
    plain = wide()
    BarReplayer(plain, SYMBOLS).run(chunks)
    sim = wide()
    replayer = BarReplayer(sim, SYMBOLS)
    seen: dict[int, Decimal] = {}
    held = 0
    for chunk, midnights in zip(chunks, wanted, strict=True):
        for step in replayer.steps(chunk, None, None, checkpoints=midnights):
            if not step.checkpoint:
                continue
            assert step.t + 1 in midnights and step.symbols == step.stopped == ()
            for position in sim.state.account.open_positions():
                held += 1
                s = SYMBOLS.index(position.symbol)
                assert sim.last_price(position.symbol) == _grid(sim, position.symbol, float(chunk.close[step.t, s]))
            assert not any(e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] == "FUNDING_FEE" and e["E"] >= step.open_time_ms
                           for e in sim.events)  # midnight's funding is paid after the checkpoint
            seen[step.open_time_ms] = sim.equity
    assert seen == reference and len(seen) == 2
    assert held > 0  # positions were open at a midnight: their prices (and so equity) had to be brought up
    assert sim.event_log() == plain.event_log()


def _wide_sim() -> ExchangeSimulator:
    """Stops and targets far enough (30 % / 40 %) that every position stays open through the data."""
    sim = _simulator()
    for i, symbol in enumerate(SYMBOLS):
        _protect(sim, symbol, long=i % 2 == 0, stop="-0.3", take="0.4")
    return sim


def test_an_equity_floor_suspends_at_the_first_close_at_or_below_it() -> None:
    """A live session reads equity every minute, so the daily loss limit acts at the first close that breaks
    it; the replay skips quiet bars, but must suspend there. A position grows half way through the first
    chunk (the watch's sum must follow), and the floor is a close's equity lower than every close before
    it: the first checkpoint is that bar, with the account exactly as a bar-by-bar run shows it there."""
    chunks = _chunks(2_100, 700)
    grow_at = 50
    equity: list[tuple[int, int, Decimal]] = []

    def grow(sim: ExchangeSimulator, k: int, t: int) -> None:
        if (k, t) == (0, grow_at):
            sim.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.2"})

    def record(sim: ExchangeSimulator, k: int, t: int) -> None:
        grow(sim, k, t)
        equity.append((k, t, sim.equity))

    _bar_by_bar(_wide_sim(), chunks, record)
    lowest, candidates = equity[0][2], []
    for k, t, value in equity[1:]:
        if value < lowest and t + 1 < len(chunks[k]) and (k, t) > (0, grow_at):
            candidates.append((k, t, value))
        lowest = min(lowest, value)
    assert candidates, "the data must reach a new low after the position grew"
    k_low, t_low, floor = next((c for c in candidates if c[0] == 0), candidates[0])

    plain = _wide_sim()
    plain_replayer = BarReplayer(plain, SYMBOLS)
    watched = _wide_sim()
    replayer = BarReplayer(watched, SYMBOLS)
    replayer.equity.floor = floor
    checkpoints: list[tuple[int, int, Decimal]] = []
    for k, chunk in enumerate(chunks):
        stops = np.zeros((len(chunk), len(SYMBOLS)), np.bool_)
        if k == 0:
            stops[grow_at, 0] = True
        for sim, stepper in ((plain, plain_replayer), (watched, replayer)):
            for step in stepper.steps(chunk, stops):
                if step.stopped:
                    grow(sim, k, step.t)
                if step.checkpoint:
                    assert stepper is replayer
                    checkpoints.append((k, step.t, watched.equity))
                    replayer.equity.floor = None  # as the backtest does once the limit has acted
    assert checkpoints == [(k_low, t_low, floor)]
    assert watched.event_log() == plain.event_log()  # suspending there changed nothing by itself


def test_an_equity_floor_above_the_wallet_without_positions_suspends_at_the_next_close() -> None:
    chunk = _chunks(300)[0]
    sim = _simulator()
    replayer = BarReplayer(sim, SYMBOLS)
    replayer.equity.floor = sim.wallet_balance  # at the floor already: the first close reads it
    steps = replayer.steps(chunk)
    first = next(steps)
    assert first.checkpoint and first.t == 0
    replayer.equity.floor = sim.wallet_balance - 1
    assert not any(step.checkpoint for step in steps)


def _reenter(sim: ExchangeSimulator, _k: int, t: int) -> None:
    symbol = SYMBOLS[t % 3]
    if not sim.account.has_position(symbol):
        _protect(sim, symbol, long=t % 2 == 0)


@pytest.mark.parametrize("margin", ["ISOLATED", "CROSSED"])
def test_every_close_at_or_below_the_floor_is_a_checkpoint_even_where_a_step_put_it_there(margin: str) -> None:
    """The reference reads the exact equity at every close (a checkpoint at every bar); with the floor kept
    set, the replay must suspend at exactly the closes at or below it. A stop that fills below the floor,
    or an entry's fee, puts the equity there at the very bar of the step: that close must be read too
    (it was missed, and the limit acted a bar late or not at all). Nothing that happens changes."""
    chunks = _chunks(2_100, 700)
    rng = np.random.default_rng(5)
    masks = [rng.random((len(c), len(SYMBOLS))) < 0.003 for c in chunks]

    def protected() -> ExchangeSimulator:
        sim = _simulator()  # isolated
        for i, symbol in enumerate(SYMBOLS):
            if margin == "CROSSED":
                sim.set_margin_type(symbol, margin)
            _protect(sim, symbol, long=i % 2 == 0)
        return sim

    def run(floor: Decimal | None) -> tuple[dict[tuple[int, int], Decimal], str]:
        sim = protected()
        replayer = BarReplayer(sim, SYMBOLS)
        read: dict[tuple[int, int], Decimal] = {}
        for k, chunk in enumerate(chunks):
            replayer.equity.floor = floor
            every = range(1, len(chunk)) if floor is None else ()
            for step in replayer.steps(chunk, masks[k], checkpoints=every):
                if step.checkpoint:
                    assert (k, step.t) not in read  # one reading per close
                    read[(k, step.t)] = sim.equity
                elif step.stopped:
                    _reenter(sim, k, step.t)
        return read, sim.event_log()

    every_close, log = run(None)
    values = sorted(every_close.values())
    for quantile in (0.05, 0.3):
        floor = values[int(quantile * len(values))]
        read, floored_log = run(floor)
        assert sorted(read) == sorted(bar for bar, equity in every_close.items() if equity <= floor)
        assert floored_log == log


def test_a_held_symbol_without_data_is_read_at_its_last_close() -> None:
    """ETH falls 3 % at bar 100 and its data ends there; BTC dips at bar 150, taking equity below the floor.
    The watch carries ETH's last close forward, so the checkpoint's exact reading must too: it kept ETH at
    its price before the fall, read above the floor at every later bar, and the replay suspended at each."""
    sim = _simulator()
    for symbol in SYMBOLS:
        _protect(sim, symbol, long=True, stop="-0.5", take="0.9")
    start = np.array([float(sim.last_price(s)) for s in SYMBOLS])
    close = np.tile(start, (300, 1))
    close[100:, 1] = start[1] * 0.97
    close[101:, 1] = np.nan
    close[150:, 0] = start[0] * 0.99
    chunk = BarChunk(SYMBOLS, 1_767_225_660_000 + 60_000 * np.arange(300, dtype=np.int64), close, close, close,
                     close, np.ones_like(close), 60_000)

    def equity_with(btc: float, eth: float) -> Decimal:
        prices = {"BTCUSDT": btc, "ETHUSDT": eth, "BNBUSDT": start[2]}
        return sim.wallet_balance + sum((p.amount * (_grid(sim, p.symbol, prices[p.symbol]) - p.entry_price)
                                         for p in sim.account.open_positions()), Decimal(0))

    floor = (equity_with(start[0] * 0.99, start[1] * 0.97) + equity_with(start[0], start[1] * 0.97)) / 2
    replayer = BarReplayer(sim, SYMBOLS)
    replayer.equity.floor = floor
    readings = []
    for step in replayer.steps(chunk):
        if step.checkpoint:
            readings.append((step.t, sim.equity <= floor))
            replayer.equity.floor = None if sim.equity <= floor else floor  # as the guard: once it trips
    assert readings == [(150, True)]
