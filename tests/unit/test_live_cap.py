"""The first live day: at most QT_LIVE_MAX_POSITIONS open for the 24 h after going live, QT_MAX_POSITIONS after."""

from __future__ import annotations

import asyncio

from instrument_fixtures import bnb_like, btc_like, make_instrument
from test_risk_manager import RULES, FakeAccount

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, RiskDecision, Signal
from quantum_trader.risk.daily_loss import DAY_MS
from quantum_trader.risk.manager import RiskLimits, RiskManager

LIVE_SINCE = 20_454 * DAY_MS + 23 * 3_600_000  # 2026-01-01 23:00 UTC: the cap outlasts the UTC day
SYMBOLS = ("BTCUSDT", "BNBUSDT", "ETHUSDT")


class Live:
    def __init__(self, live_since_ms: int | None = LIVE_SINCE, max_positions: int = 4, live_max: int = 2) -> None:
        self.bus = EventBus()
        self.clock = SimulatedClock(start_ms=LIVE_SINCE)
        instruments = {"BTCUSDT": btc_like(), "BNBUSDT": bnb_like(), "ETHUSDT": make_instrument("ETHUSDT")}
        account = FakeAccount(prices={"BTCUSDT": "50000", "BNBUSDT": "900", "ETHUSDT": "3000"})
        self.risk = RiskManager(self.bus, self.clock, instruments, account, RULES,
                                RiskLimits(max_positions=max_positions, min_confidence=0.65,
                                           live_since_ms=live_since_ms, live_max_positions=live_max))
        self.risk.attach()
        self.decisions: list[RiskDecision] = []
        self.bus.subscribe(RiskDecision, self.decisions.append)

    def signals_at(self, time_ms: int, *symbols: str) -> list[RiskDecision]:
        self.clock.advance_to(time_ms)

        async def main() -> None:
            for symbol in symbols:
                await self.bus.publish(Signal(symbol, Direction.LONG, 0.9, "sma-cross", time_ms))

        asyncio.run(main())
        return self.decisions[-len(symbols):]


def test_within_the_first_live_day_the_third_position_is_refused_naming_the_setting() -> None:
    live = Live()
    first, second, third = live.signals_at(LIVE_SINCE + 60_000, *SYMBOLS)
    assert first.approved and second.approved
    assert not third.approved
    assert third.reason == "2 positions open: QT_LIVE_MAX_POSITIONS is 2 during the first live day"
    # The first-day cap rises by itself after 24 h, so it never makes a backtest skip a bar (risk/rules.py):
    # only the symbols holding a position are blocked until something changes.
    assert live.risk.blocked_symbols(SYMBOLS) == frozenset({"BTCUSDT", "BNBUSDT"})


def test_the_cap_holds_until_the_last_millisecond_of_the_24_hours() -> None:
    live = Live()
    decisions = live.signals_at(LIVE_SINCE + DAY_MS - 1, *SYMBOLS)
    assert [d.approved for d in decisions] == [True, True, False]


def test_after_24_hours_the_normal_cap_applies() -> None:
    live = Live()
    assert [d.approved for d in live.signals_at(LIVE_SINCE + DAY_MS, *SYMBOLS)] == [True, True, True]
    assert live.risk.position_cap(LIVE_SINCE + DAY_MS) == (4, "QT_MAX_POSITIONS")


def test_a_position_opened_on_day_one_still_counts_on_day_two() -> None:
    live = Live(max_positions=2, live_max=1)
    assert [d.approved for d in live.signals_at(LIVE_SINCE, "BTCUSDT", "BNBUSDT")] == [True, False]
    assert [d.approved for d in live.signals_at(LIVE_SINCE + DAY_MS, "BNBUSDT", "ETHUSDT")] == [True, False]
    assert live.decisions[-1].reason == "2 positions open: QT_MAX_POSITIONS is 2"


def test_not_live_means_no_first_day_cap() -> None:
    live = Live(live_since_ms=None)
    assert [d.approved for d in live.signals_at(LIVE_SINCE, *SYMBOLS)] == [True, True, True]


def test_a_live_cap_above_max_positions_leaves_max_positions_in_charge() -> None:
    live = Live(max_positions=1, live_max=2)
    first, second = live.signals_at(LIVE_SINCE, "BTCUSDT", "BNBUSDT")
    assert first.approved and not second.approved
    assert second.reason == "1 position open: QT_MAX_POSITIONS is 1"


def test_default_limits_keep_the_old_behaviour() -> None:
    limits = RiskLimits(max_positions=4, min_confidence=0.65)
    assert limits.live_since_ms is None and limits.daily_loss_limit_pct is None
