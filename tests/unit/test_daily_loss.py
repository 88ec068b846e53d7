"""The daily loss limit: exact threshold, once per UTC day, a fresh start each day, and how long each halt lasts.

The guard is tested alone (pure `check`) and then on a real bus with the real RiskManager, so the
halt, its expiry at the next UTC midnight and the difference from a manual kill are asserted on the
decisions risk actually publishes.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from instrument_fixtures import bnb_like, btc_like
from test_risk_manager import RULES, FakeAccount

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.errors import RetryableExchangeError
from quantum_trader.domain.events import (
    DAILY_REFERENCE,
    Direction,
    EquitySnapshot,
    KillSwitch,
    ProtectionAction,
    RiskDecision,
    Signal,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import BalanceUpdate
from quantum_trader.risk.daily_loss import (
    DAY_MS,
    DailyLossGuard,
    loss_floor,
    next_midnight_ms,
    undated_moves,
    utc_day,
)
from quantum_trader.risk.manager import RiskLimits, RiskManager
from quantum_trader.risk.rules import UNTIL_RESUMED
from quantum_trader.runtime.startup import count_transfers_while_away, read_income_while_away
from quantum_trader.trading.trades import OpenTrade

D = Decimal
DAY0 = 20_454 * DAY_MS  # 2026-01-01 00:00 UTC
HOUR = 3_600_000


def snap(equity: str, time_ms: int) -> EquitySnapshot:
    return EquitySnapshot(wallet=D(equity), equity=D(equity), available=D(equity), open_positions=0, time_ms=time_ms)


# --- the guard alone ---------------------------------------------------------------------------------------
def test_day_arithmetic() -> None:
    assert utc_day(DAY0) == utc_day(DAY0 + DAY_MS - 1) == utc_day(DAY0 + DAY_MS) - 1
    assert next_midnight_ms(DAY0) == next_midnight_ms(DAY0 + DAY_MS - 1) == DAY0 + DAY_MS
    assert loss_floor(D("10000"), D("5")) == D("9500")


def test_equity_exactly_at_the_limit_triggers_and_a_hair_above_does_not() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    assert guard.check(snap("10000", DAY0 + HOUR)) is None
    assert guard.check(snap("9500.00000001", DAY0 + 2 * HOUR)) is None
    kill = guard.check(snap("9500", DAY0 + 3 * HOUR))
    assert kill == KillSwitch(reason="daily loss limit: equity 9500 fell 5.00% from 10000 at the UTC day's start",
                              time_ms=DAY0 + 3 * HOUR)
    assert guard.is_own(kill) and not guard.is_own(KillSwitch(reason=kill.reason, time_ms=kill.time_ms))


def test_the_start_is_the_first_snapshot_of_the_day_not_the_peak() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.check(snap("10000", DAY0 + 1))
    assert guard.check(snap("12000", DAY0 + HOUR)) is None
    assert guard.check(snap("11000", DAY0 + 2 * HOUR)) is None  # 8 % below the peak, 10 % above the start
    assert guard.start_equity == D("10000")


def test_it_fires_once_per_day() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.check(snap("10000", DAY0))
    assert guard.check(snap("9400", DAY0 + HOUR)) is not None
    assert guard.check(snap("9000", DAY0 + 2 * HOUR)) is None
    assert guard.check(snap("8000", DAY0 + DAY_MS - 1)) is None
    assert len(guard.published) == 1


def test_the_next_day_starts_from_its_own_first_snapshot() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.check(snap("10000", DAY0))
    assert guard.check(snap("9400", DAY0 + HOUR)) is not None
    assert guard.check(snap("9000", DAY0 + DAY_MS + HOUR)) is None  # day 2 starts at 9000
    assert guard.start_equity == D("9000")
    assert guard.check(snap("8600", DAY0 + DAY_MS + 2 * HOUR)) is None  # 4.4 % down
    kill = guard.check(snap("8550", DAY0 + DAY_MS + 3 * HOUR))
    assert kill is not None and "fell 5.00% from 9000" in kill.reason
    assert len(guard.published) == 2


def test_a_late_snapshot_from_the_previous_day_neither_resets_nor_fires() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.check(snap("10000", DAY0 + DAY_MS))
    assert guard.check(snap("1", DAY0 + DAY_MS - 1)) is None
    assert guard.start_equity == D("10000") and guard.day == utc_day(DAY0 + DAY_MS)


@pytest.mark.parametrize("limit", ["0", "-1", "100.01"])
def test_a_limit_outside_0_to_100_is_refused(limit: str) -> None:
    with pytest.raises(ValueError, match="QT_DAILY_LOSS_LIMIT_PCT"):
        DailyLossGuard(EventBus(), D(limit))


# --- with the risk manager on a real bus -------------------------------------------------------------------
class Session:
    def __init__(self, limit: str | None = "5") -> None:
        self.bus = EventBus()
        self.clock = SimulatedClock(start_ms=DAY0)
        self.risk = RiskManager(self.bus, self.clock, {"BTCUSDT": btc_like(), "BNBUSDT": bnb_like()}, FakeAccount(),
                                RULES, RiskLimits(max_positions=4, min_confidence=0.65,
                                                  daily_loss_limit_pct=None if limit is None else D(limit)))
        self.risk.attach()
        self.events: list[object] = []
        self.bus.subscribe(object, self.events.append)

    def at(self, time_ms: int, *events: object) -> None:
        self.clock.advance_to(time_ms)

        async def main() -> None:
            for event in events:
                await self.bus.publish(event)

        asyncio.run(main())

    def signal(self, time_ms: int, symbol: str = "BTCUSDT") -> RiskDecision:
        self.at(time_ms, Signal(symbol, Direction.LONG, 0.9, "sma-cross", time_ms))
        decision = [e for e in self.events if isinstance(e, RiskDecision)][-1]
        self.risk.open_symbols.discard(symbol)  # each check asks for a fresh slot
        return decision

    def kills(self) -> list[KillSwitch]:
        return [e for e in self.events if isinstance(e, KillSwitch)]


def test_the_limit_publishes_only_a_kill_switch_and_halts_until_the_next_utc_midnight() -> None:
    s = Session()
    s.at(DAY0 + HOUR, snap("10000", DAY0 + HOUR))
    s.at(DAY0 + 5 * HOUR, snap("9500", DAY0 + 5 * HOUR))
    # depth-first delivery: the kill switch is handled inside the snapshot's delivery; besides it, only the day's
    # reference, journaled when the first snapshot set it (a restart within the day reads it back)
    assert [type(e) for e in s.events] == [ProtectionAction, EquitySnapshot, KillSwitch, EquitySnapshot]
    reference = s.events[0]
    assert isinstance(reference, ProtectionAction) and (reference.action, reference.price, reference.time_ms) == (
        DAILY_REFERENCE, D("10000"), DAY0 + HOUR)
    assert s.risk.state == "HALTED" and s.risk.halted_until_ms == DAY0 + DAY_MS
    refused = s.signal(DAY0 + DAY_MS - 1)
    assert not refused.approved
    assert refused.reason.startswith("trading halted: daily loss limit: equity 9500 fell 5.00% from 10000")
    assert refused.reason.endswith("(until 2026-01-02 00:00 UTC)")
    assert s.signal(DAY0 + DAY_MS).approved  # the first signal of the new day lifts the halt
    assert s.risk.state == "ACTIVE" and s.risk.halted_until_ms is None


def test_the_first_snapshot_of_the_next_day_lifts_the_halt() -> None:
    s = Session()
    s.at(DAY0, snap("10000", DAY0), snap("9000", DAY0 + HOUR))
    s.at(DAY0 + DAY_MS + 60_000, snap("9000", DAY0 + DAY_MS + 60_000))
    assert s.risk.halted_reason is None and s.risk.state == "ACTIVE"
    assert s.risk.blocked_symbols(("BTCUSDT",)) == frozenset()


def test_a_second_breach_the_same_day_publishes_nothing_more() -> None:
    s = Session()
    s.at(DAY0, snap("10000", DAY0), snap("9000", DAY0 + HOUR), snap("8000", DAY0 + 2 * HOUR))
    assert len(s.kills()) == 1


def test_manual_resume_lifts_a_daily_halt_early() -> None:
    s = Session()
    s.at(DAY0, snap("10000", DAY0), snap("9000", DAY0 + HOUR))
    s.risk.resume()
    assert s.signal(DAY0 + 2 * HOUR).approved


def test_a_manual_kill_switch_does_not_expire() -> None:
    s = Session()
    s.at(DAY0, KillSwitch(reason="manual kill switch", time_ms=DAY0))
    assert s.risk.halted_until_ms is None
    later = DAY0 + 3 * DAY_MS
    s.at(later, snap("10000", later))
    decision = s.signal(later + 1)
    assert not decision.approved and decision.reason == f"trading halted: manual kill switch ({UNTIL_RESUMED})"
    assert s.risk.blocked_symbols(("BTCUSDT",)) == ("BTCUSDT",)
    s.risk.resume()
    assert s.signal(later + 2).approved


def test_a_daily_breach_while_manually_halted_does_not_make_the_halt_expire() -> None:
    s = Session()
    s.at(DAY0, snap("10000", DAY0), KillSwitch(reason="manual kill switch", time_ms=DAY0 + 1))
    s.at(DAY0 + HOUR, snap("9000", DAY0 + HOUR))
    assert len(s.kills()) == 2  # the guard still says what happened; the kill-switch handler flattens again
    assert s.risk.halted_reason == "manual kill switch" and s.risk.halted_until_ms is None
    assert not s.signal(DAY0 + 2 * DAY_MS).approved


def test_a_manual_kill_during_a_daily_halt_lasts_until_resume() -> None:
    s = Session()
    s.at(DAY0, snap("10000", DAY0), snap("9000", DAY0 + HOUR), KillSwitch("manual kill switch", DAY0 + 2 * HOUR))
    assert s.risk.halted_until_ms is None
    assert not s.signal(DAY0 + 2 * DAY_MS).approved


def test_without_a_limit_no_guard_runs() -> None:
    s = Session(limit=None)
    s.at(DAY0, snap("10000", DAY0), snap("1", DAY0 + HOUR))
    assert s.kills() == [] and s.risk.daily_loss is None and s.risk.state == "ACTIVE"


def test_a_daily_halt_never_makes_the_backtest_skip_a_bar_and_lifts_at_midnight() -> None:
    """A skipped bar is never revisited, and this halt lifts by itself: signals during it reach risk and are
    refused there (tests/integration/test_backtest_equivalence.py runs a backtest through such halts)."""
    s = Session()
    s.at(DAY0, snap("10000", DAY0), snap("9000", DAY0 + HOUR))
    s.clock.advance_to(DAY0 + DAY_MS - 1)
    assert s.risk.state == "HALTED"
    assert s.risk.blocked_symbols(("BTCUSDT",)) == frozenset()
    s.clock.advance_to(DAY0 + DAY_MS)
    assert s.risk.state == "ACTIVE"


def test_the_reason_gives_equity_to_the_cent() -> None:
    guard = DailyLossGuard(EventBus(), Decimal(5))
    guard.check(EquitySnapshot(wallet=Decimal(1_000_000), equity=Decimal(1_000_000), available=Decimal(0),
                               open_positions=0, time_ms=0))
    kill = guard.check(EquitySnapshot(wallet=Decimal(1_000_000), equity=Decimal("949901.3559142900000000000002"),
                                      available=Decimal(0), open_positions=3, time_ms=60_000))
    assert kill is not None and "equity 949901.36 fell 5.01% from 1000000 " in kill.reason


# --- after a restart: the journal's kill switches replayed (risk/manager.py `restore_halt`) -----------------
DAILY = "daily loss limit: equity 9000 fell 10.00% from 10000 at the UTC day's start"


def restored(now_ms: int, *kills: tuple[str, int]) -> tuple[str | None, int | None, Session]:
    s = Session()
    s.at(now_ms)
    reason = s.risk.restore_halt(kills)
    return reason, s.risk.halted_until_ms, s


def test_a_daily_halt_lifts_at_the_midnight_after_its_kill_switch_not_after_the_summary() -> None:
    """The kill-switch handler's summary row (reason + ": " + what it did) may be written after midnight."""
    kill = (DAILY, DAY0 + DAY_MS - 100)
    summary = (DAILY + ": cancelled 2 orders, closed 1 position", DAY0 + DAY_MS + 50)
    assert restored(DAY0 + DAY_MS - 10, kill, summary)[:2] == (DAILY, DAY0 + DAY_MS)
    assert restored(DAY0 + DAY_MS + 1000, kill, summary)[:2] == (None, None)


def test_restored_halts_follow_the_live_rules() -> None:
    manual = ("manual kill switch", DAY0 + HOUR)
    assert restored(DAY0 + 5 * DAY_MS, manual)[:2] == ("manual kill switch", None)
    assert restored(DAY0 + 5 * DAY_MS, manual, (DAILY, DAY0 + 2 * HOUR))[:2] == ("manual kill switch", None)
    assert restored(DAY0 + 5 * DAY_MS, (DAILY, DAY0 + HOUR), ("manual kill switch", DAY0 + 2 * HOUR))[:2] == (
        "manual kill switch", None)
    two_days = restored(DAY0 + DAY_MS + HOUR, (DAILY, DAY0 + HOUR), (DAILY, DAY0 + DAY_MS))
    assert two_days[:2] == (DAILY, DAY0 + 2 * DAY_MS)
    assert restored(DAY0 + 5 * DAY_MS)[:2] == (None, None)


def test_a_restored_daily_halt_does_not_fire_the_days_kill_switch_again() -> None:
    reason, _, s = restored(DAY0 + 3 * HOUR, (DAILY, DAY0 + 2 * HOUR))
    assert reason == DAILY
    s.at(DAY0 + 4 * HOUR, snap("9000", DAY0 + 4 * HOUR), snap("5000", DAY0 + 5 * HOUR))
    assert s.kills() == [] and s.risk.state == "HALTED"


# --- a restart within the day (runtime/startup.py restore_day_start) -----------------------------------------
def test_a_restored_day_start_is_the_reference_not_the_first_snapshot_after_the_restart() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.restore_day(utc_day(DAY0 + HOUR), D("10000"), DAY0 + HOUR)
    assert guard.check(snap("9600", DAY0 + 5 * HOUR)) is None  # the restart's equity: 4 % down on the day
    kill = guard.check(snap("9500", DAY0 + 6 * HOUR))
    assert kill is not None and "from 10000 at the UTC day's start" in kill.reason
    assert guard.status() == {"limit_pct": "5", "day_start_equity": "10000", "day_start_ms": DAY0 + HOUR,
                              "floor": None}  # tripped: no floor until the next day


def test_without_the_restore_a_restart_gave_the_day_a_fresh_allowance() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    assert guard.check(snap("9600", DAY0 + 5 * HOUR)) is None
    assert guard.check(snap("9500", DAY0 + 6 * HOUR)) is None  # 1 % below the restart: what restore_day prevents
    assert guard.status()["floor"] == "9120"


def test_risk_restores_a_day_start_only_within_that_utc_day() -> None:
    session = Session()
    session.clock.advance_to(DAY0 + 5 * HOUR)
    risk = session.risk
    assert risk.restore_day_start(D("10000"), DAY0 - HOUR) is False  # yesterday's start is not today's
    assert risk.daily_loss is not None and risk.daily_loss.start_equity is None
    assert risk.restore_day_start(D("10000"), DAY0 + HOUR) is True
    assert (risk.daily_loss.day, risk.daily_loss.start_equity) == (utc_day(DAY0), D("10000"))
    assert Session(limit=None).risk.restore_day_start(D("10000"), DAY0 + HOUR) is False


def test_a_resume_after_todays_trip_gives_the_rest_of_the_day_a_new_allowance() -> None:
    session = Session()
    guard = session.risk.daily_loss
    assert guard is not None
    assert guard.check(snap("10000", DAY0 + HOUR)) is None
    assert guard.check(snap("9400", DAY0 + 2 * HOUR)) is not None  # tripped
    session.clock.advance_to(DAY0 + 3 * HOUR)
    session.risk.resume()
    assert guard.floor() is None and guard.start_equity is None  # the next point starts the rest of the day
    assert guard.check(snap("9300", DAY0 + 4 * HOUR)) is None
    assert guard.status()["floor"] == "8835"  # 5 % below 9300, not 9500 (which would trip at once)
    assert guard.check(snap("8835", DAY0 + 5 * HOUR)) is not None  # and the limit acts again


def test_a_resume_after_a_manual_kill_keeps_the_days_reference() -> None:
    session = Session()
    guard = session.risk.daily_loss
    assert guard is not None
    guard.check(snap("10000", DAY0 + HOUR))
    session.clock.advance_to(DAY0 + 2 * HOUR)
    session.risk.resume()  # nothing daily tripped: kill switch and resume are no way to reset the day
    assert guard.status()["day_start_equity"] == "10000" and guard.floor() == D("9500")


# --- transfers --------------------------------------------------------------------------------------------
def _transfer(change: str, time_ms: int, reason: str = "TRANSFER") -> BalanceUpdate:
    return BalanceUpdate(change=D(change), reason=reason, symbol=None, time_ms=time_ms)


def test_a_transfer_moves_the_reference_and_stamps_it_with_the_later_time() -> None:
    """A restart reads the income history after the journaled reference's time, so that time must be at least
    the last counted transfer's, or the restart would count it again."""
    bus = EventBus()
    journaled: list[ProtectionAction] = []
    bus.subscribe(ProtectionAction, journaled.append)
    guard = DailyLossGuard(bus, D("5"))

    async def body() -> None:
        assert not await guard.move(_transfer("-100", DAY0 + HOUR))  # before the day's first point: nothing
        guard.check(snap("10000", DAY0 + 2 * HOUR))
        assert await guard.move(_transfer("-1000", DAY0 + 3 * HOUR))
        assert await guard.move(_transfer("50", DAY0 + HOUR))  # an exchange clock behind: counted, time kept

    asyncio.run(body())
    assert guard.start_equity == D("9050") and guard.start_ms == DAY0 + 3 * HOUR
    assert [(a.price, a.time_ms) for a in journaled] == [(D("9000"), DAY0 + 3 * HOUR), (D("9050"), DAY0 + 3 * HOUR)]


class _Income:
    """An exchange reader's `income` only (what `read_income_while_away` asks)."""

    def __init__(self, found: list[BalanceUpdate] | Exception) -> None:
        self.found = found
        self.asked: list[tuple[int, str | None]] = []

    async def income(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        self.asked.append((start_ms, income_type))
        if isinstance(self.found, Exception):
            raise self.found
        return [u for u in self.found if u.time_ms >= start_ms and income_type in (None, u.reason)]


async def _restart(guard: DailyLossGuard | None, income: _Income, trades: list[OpenTrade] | None = None) -> Decimal:
    """What a restart does with the income history: one reading, then the transfers in it."""
    found = await read_income_while_away(income, guard, trades or [])
    return await count_transfers_while_away(guard.bus if guard else EventBus(), guard, found)


def test_a_restart_counts_the_transfers_listed_after_the_restored_reference() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.attach()
    guard.restore_day(utc_day(DAY0), D("10000"), DAY0 + HOUR)
    income = _Income([_transfer("-1500", DAY0 + 2 * HOUR), _transfer("200", DAY0 + 3 * HOUR, "COIN_SWAP_DEPOSIT")])
    assert asyncio.run(_restart(guard, income)) == D("-1300")
    assert income.asked == [(DAY0 + HOUR + 1, None)]  # after the reference: what it counted is not counted again
    assert guard.start_equity == D("8700") and guard.floor() == D("8265") and guard.start_ms == DAY0 + 3 * HOUR


def test_one_reading_serves_the_transfers_and_the_open_trades_funding() -> None:
    """A trade open since yesterday wants funding from its entry on, the limit transfers from today's reference:
    one request from the earlier time, every kind; the transfers before the reference are not counted again,
    and funding is no transfer."""
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.attach()
    guard.restore_day(utc_day(DAY0), D("10000"), DAY0 + HOUR)
    trade = OpenTrade(TradeOpened(trade_id="BNBUSDT_1", symbol="BNBUSDT", direction=Direction.LONG,
                                  quantity=D("1"), entry_price=D("600"), planned_stop=D("590"),
                                  planned_take_profit=None, planned_loss=D("10"), leverage=5, equity=D("10000"),
                                  time_ms=DAY0 - 10 * HOUR))
    funding = BalanceUpdate(change=D("-1.5"), reason="FUNDING_FEE", symbol="BNBUSDT", time_ms=DAY0 - 8 * HOUR)
    income = _Income([_transfer("-700", DAY0 - 9 * HOUR), funding, _transfer("-100", DAY0 + 2 * HOUR)])
    assert asyncio.run(_restart(guard, income, [trade])) == D("-100")
    assert income.asked == [(DAY0 - 10 * HOUR, None)]
    alone = _Income([funding])
    assert asyncio.run(read_income_while_away(alone, None, [trade])) == [funding]
    assert alone.asked == [(DAY0 - 10 * HOUR, "FUNDING_FEE")]  # no reference to move: funding rows alone


def test_a_restart_without_a_reference_or_an_income_history_moves_nothing() -> None:
    fresh = DailyLossGuard(EventBus(), D("5"))
    unasked = _Income([_transfer("-1500", DAY0)])
    assert asyncio.run(_restart(fresh, unasked)) == 0 and unasked.asked == []
    assert asyncio.run(_restart(None, unasked)) == 0 and unasked.asked == []
    restored = DailyLossGuard(EventBus(), D("5"))
    restored.attach()
    restored.restore_day(utc_day(DAY0), D("10000"), DAY0)
    failing = _Income(RetryableExchangeError(-1001, "Internal error; unable to process your request."))
    assert asyncio.run(read_income_while_away(failing, restored, [])) is None  # a warning, not a refusal
    assert asyncio.run(_restart(restored, failing)) == 0
    assert restored.start_equity == D("10000")


@pytest.mark.parametrize(("references", "journaled", "undated"), [
    # 59f2cc6: a deposit moved the reference, its stamp stayed the day's first point's, no transfer was journaled
    ([("10000", 1), ("11000", 1)], [], ["1000"]),
    ([("10000", 1), ("10500", 1), ("11000", 1)], ["500"], ["500"]),  # one of two is explained by a journaled one
    ([("10000", 1), ("11000", 1)], ["1000"], []),  # today: a transfer dated before its reference, journaled
    ([("10000", 1), ("11000", 5)], [], []),  # today: the move stamped with its transfer's time
    ([("10000", 1), ("11000", 1), (None, 7), ("9000", 8)], [], []),  # a resume: a new allowance, measured afresh
    ([("10000", 1), ("10000", 1)], [], []),  # the same reference twice: no move
])
def test_moves_journaled_without_their_transfers_time_are_told_apart(
        references: list[tuple[str | None, int]], journaled: list[str], undated: list[str]) -> None:
    rows = [(None if e is None else D(e), DAY0 + t) for e, t in references]
    assert undated_moves(rows, [D(j) for j in journaled]) == [D(u) for u in undated]


def test_a_transfer_the_restored_reference_holds_undated_is_counted_once() -> None:
    """The reference of 11,000 an older version journaled after a 1,000 deposit, stamped with the day's first point
    (1 h): the income history lists that deposit after it, and a second one made while the bot was stopped."""
    guard = DailyLossGuard(EventBus(), D("5"))
    guard.attach()
    guard.restore_day(utc_day(DAY0), D("11000"), DAY0 + HOUR, undated=[D("1000")])
    income = _Income([_transfer("1000", DAY0 + 2 * HOUR), _transfer("1000", DAY0 + 3 * HOUR)])
    assert asyncio.run(_restart(guard, income)) == D("1000")  # the second one only
    assert guard.start_equity == D("12000") and guard.start_ms == DAY0 + 3 * HOUR  # was 13000
    assert guard.undated == []
