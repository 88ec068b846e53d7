"""Recorded funding rates into the simulator: a replay (a backtest, a paper session, `sim-server`) pays
funding at the rates and on the intervals Binance published, instead of the simulator's default 0.01 %
every 8 h."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from .engine import ExchangeSimulator
from .funding import FundingSchedule


class RecordedFunding(Protocol):
    """Funding rows per symbol and each symbol's usual interval: marketdata.companions.FundingData is one."""

    @property
    def rates(self) -> Mapping[str, Sequence[tuple[int, Decimal]]]: ...
    @property
    def interval_hours(self) -> Mapping[str, int]: ...


def use_recorded_funding(sim: ExchangeSimulator, funding: RecordedFunding) -> None:
    """Pay funding at the recorded rates, on each symbol's recorded interval (its most frequent one; others
    keep the simulator's): before a symbol's first row its default rate applies, after its last row that row's.
    For a simulator not yet moved (a backtest) or resumed (a session): the next clock move recomputes the due time."""
    state = sim.state
    for symbol, rows in funding.rates.items():
        if symbol in state.instruments:
            state.funding_rates.set_series(symbol, rows)
    schedule = state.funding_schedule
    overrides = {**schedule.overrides, **{s: h for s, h in funding.interval_hours.items()
                                          if s in state.instruments and h != schedule.interval_hours and 24 % h == 0}}
    if overrides != dict(schedule.overrides):
        state.funding_schedule = FundingSchedule(schedule.interval_hours, overrides)
        state.funding_due_ms = 0
