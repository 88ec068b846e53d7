"""The replay's drawdown watch: the deepest fall of equity over every bar close, exactly as reading the account
at each close would find it, though the replay reads the account only where something happens.

The reference suspends at every close (a checkpoint at every bar) and reads the simulator's Decimal equity
there; the watched run skips quiet bars as a backtest does. Both take the same entries at the same bars.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from itertools import groupby

import numpy as np
import numpy.typing as npt
import pytest
from test_replay_steps import SYMBOLS, _chunks, _protect, _reenter, _simulator

from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.replay import BarReplayer
from quantum_trader.sim.replay_drawdown import DrawdownWatch, Reading
from quantum_trader.trading.performance import Drawdown, max_drawdown


def _marks(chunk: BarChunk, seed: int) -> BarChunk:
    """Recorded mark bars a little off the last (0.1 %), missing for a few bars: stops see either."""
    rng = np.random.default_rng(seed)
    shift = 1 + rng.normal(0, 0.001, chunk.close.shape)
    o, h, lo, c = (np.round(a * shift, 2) for a in (chunk.open, chunk.high, chunk.low, chunk.close))
    h, lo = np.maximum.reduce([h, o, c]), np.minimum.reduce([lo, o, c])
    gone = rng.random(len(chunk)) < 0.02
    for series in (o, h, lo, c):
        series[gone] = np.nan
    return BarChunk(chunk.symbols, chunk.open_time, o, h, lo, c, chunk.volume, chunk.interval_ms)


def _protected(margin: str) -> ExchangeSimulator:
    sim = _simulator()
    for i, symbol in enumerate(SYMBOLS):
        if margin == "CROSSED":
            sim.set_margin_type(symbol, margin)
        _protect(sim, symbol, long=i % 2 == 0)
    return sim


class _EveryClose(DrawdownWatch):
    """Reads every close it is told of exactly, in order (the watch proper reads only those that may count)."""

    def __init__(self, start: Decimal) -> None:
        super().__init__(start)
        self.seen: list[Decimal] = []

    def add(self, equity: Decimal) -> None:
        self.seen.append(equity)
        super().add(equity)

    def closes(self, wallet: float, open_pnl: npt.NDArray[np.float64], reading: Callable[[int], Reading]) -> None:
        for i in range(open_pnl.size):
            self.add(reading(i)())


Plan = tuple[list[BarChunk], list[BarChunk | None], list[npt.NDArray[np.bool_]]]


def _plan(with_marks: bool) -> Plan:
    chunks = _chunks(2_100, 700)
    rng = np.random.default_rng(5)
    return (chunks, [_marks(c, k) if with_marks else None for k, c in enumerate(chunks)],
            [rng.random((len(c), len(SYMBOLS))) < 0.003 for c in chunks])


def _every_close(margin: str, plan: Plan) -> tuple[list[Decimal], str]:
    """The reference: the exact equity at the start and at every close (suspended at each), and the run's log."""
    chunks, marks, masks = plan
    sim = _protected(margin)
    readings = [sim.equity]
    replayer = BarReplayer(sim, SYMBOLS)
    for k, chunk in enumerate(chunks):
        for step in replayer.steps(chunk, masks[k], marks[k], checkpoints=range(1, len(chunk))):
            if step.checkpoint:
                readings.append(sim.equity)
            elif step.stopped:
                _reenter(sim, k, step.t)
        readings.append(sim.equity)  # the chunk's last close
    return readings, sim.event_log()


def _watched(margin: str, plan: Plan, kind: type[DrawdownWatch]) -> tuple[DrawdownWatch, int, str]:
    """The same run skipping quiet bars with a watch of `kind`; the watch, the steps taken and the log."""
    chunks, marks, masks = plan
    sim = _protected(margin)
    watch = kind(sim.equity)
    replayer = BarReplayer(sim, SYMBOLS)
    replayer.equity.drawdown = watch
    steps = 0
    for k, chunk in enumerate(chunks):
        for step in replayer.steps(chunk, masks[k], marks[k]):
            steps += 1
            if step.stopped:
                _reenter(sim, k, step.t)
    return watch, steps, sim.event_log()


CASES = [("ISOLATED", False), ("CROSSED", False), ("ISOLATED", True)]


@pytest.mark.parametrize(("margin", "with_marks"), CASES)
def test_the_watch_is_told_every_close_as_the_account_reads_there(margin: str, with_marks: bool) -> None:
    """Every close once, in order, at the equity a reading there gives (repeats of one value are one: with
    nothing open a stretch is told as one wallet reading)."""
    plan = _plan(with_marks)
    readings, log = _every_close(margin, plan)
    watch, steps, watched_log = _watched(margin, plan, _EveryClose)
    assert watched_log == log  # the same run: only the readings differ
    assert steps < len(readings) // 5  # it skipped most closes, and was still told of them all
    assert isinstance(watch, _EveryClose)
    assert [k for k, _ in groupby(watch.seen)] == [k for k, _ in groupby(readings[1:])]


@pytest.mark.parametrize(("margin", "with_marks"), CASES)
def test_the_watch_finds_the_deepest_fall_of_every_close(margin: str, with_marks: bool) -> None:
    """The watch proper reads only the closes that may count, and finds the same deepest fall, exactly."""
    plan = _plan(with_marks)
    readings, _ = _every_close(margin, plan)
    watch, _, _ = _watched(margin, plan, DrawdownWatch)
    expected = max_drawdown(readings)
    assert Drawdown(watch.usdt, watch.pct) == expected
    assert expected.usdt > 0 and watch.peak == max(readings)


def test_a_fall_inside_a_stretch_is_read_at_its_own_peak_and_trough() -> None:
    """Within one stretch the highest close may come after the lowest: the deepest fall is then between an
    earlier peak and a later trough, neither of them the stretch's extreme."""
    watch = DrawdownWatch(Decimal(100))
    values = np.array([0.0, 10.0, 2.0, 3.0, 20.0, 19.0, -1.0, 30.0])  # P&L on a wallet of 100
    watch.closes(100.0, values, lambda i: lambda: Decimal(100) + Decimal(repr(float(values[i]))))
    assert (watch.peak, watch.usdt) == (Decimal("130.0"), Decimal("21.0"))  # 120 → 99
    assert watch.pct == Decimal("21.0") / Decimal("120.0") * 100
    quiet = np.array([25.0, 28.0, 15.0])  # below the peak, no deeper fall: nothing read exactly
    watch.closes(100.0, quiet, lambda i: pytest.fail("a quiet stretch needs no reading"))
