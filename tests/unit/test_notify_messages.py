"""What the alerts say: exact Decimal figures, the stop audit's own verdict, one word per kind of news."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

from quantum_trader.core.bus import EventBus
from quantum_trader.core.supervisor import TaskFailure, bus_reporter
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import (
    Direction,
    EquitySnapshot,
    ExitReason,
    KillSwitch,
    OrderChanged,
    ProtectionAction,
    TradeClosed,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import OrderSnapshot, SnapshotStatus
from quantum_trader.notify.alerts import Alerts
from quantum_trader.notify.messages import Level, Message, entry_message, exit_message, kill_message, pct, usdt
from quantum_trader.risk.daily_loss import REASON_PREFIX, DailyLossGuard
from quantum_trader.trading.audit import audit_row, audit_rows
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED

D = Decimal
T = 1_800_000_000_000


def run(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """These tests drive the real bus, which is async: run each on a fresh loop."""
    def sync() -> None:
        asyncio.run(test())  # type: ignore[arg-type]

    sync.__name__ = test.__name__
    return sync


def opened() -> TradeOpened:
    return TradeOpened(trade_id="t1", symbol="BTCUSDT", direction=Direction.LONG, quantity=D("0.1"),
                       entry_price=D("50000.0"), planned_stop=D("49000.0"), planned_take_profit=D("52000.0"),
                       planned_loss=D("100.5"), leverage=5, equity=D("10000"), time_ms=T, confidence=0.8123)


def closed(exit_price: str, pnl: str, *, fees: str = "2", reason: ExitReason = ExitReason.STOP_LOSS) -> TradeClosed:
    return TradeClosed(trade_id="t1", symbol="BTCUSDT", direction=Direction.LONG, quantity=D("0.1"),
                       entry_price=D("50000.0"), exit_price=D(exit_price), exit_reason=reason, realized_pnl=D(pnl),
                       fees=D(fees), funding=D("0"), planned_stop=D("49000.0"), planned_loss=D("102"), leverage=5,
                       equity_at_entry=D("10000"), opened_ms=T, time_ms=T + 60_000)


def alerts(submit: Callable[[Message], None]) -> Alerts:
    """As the runtime wires them (runtime/wiring.py `alerts_for`)."""
    return Alerts(submit, judge=audit_row, daily_loss_prefix=REASON_PREFIX, stop_witnessed=STOP_WITNESSED)


def test_money_is_rounded_half_up_from_decimal() -> None:
    assert (usdt(D("100.505")), usdt(D("-0.004")), pct(D("1.005")), pct(D("-2.14"))) == (
        "100.51", "0.00", "1.01%", "-2.14%")


def test_entry_names_size_price_stop_and_planned_loss_in_usdt_and_percent_of_equity() -> None:
    message = entry_message(opened())
    assert message.kind == "entry" and message.title == "Entry BTCUSDT long @ 50000"
    assert "BTCUSDT long 0.1 @ 50000 (leverage 5x)" in message.body
    assert "Planned stop: 49000, take-profit: 52000" in message.body
    # 100.5 / 10000 = 1.005 % -> 1.01 % (half-up)
    assert "Planned loss at the stop: 100.50 USDT (1.01% of equity 10000.00 USDT)" in message.body
    assert "Confidence: 0.81" in message.body


def test_stop_exit_reports_realised_loss_in_four_units_and_the_plan() -> None:
    trade = closed("48950.0", "-105")  # net -107: notional 5000, margin 1000, equity 10000
    message = exit_message(trade, audit_row(trade))
    assert message.kind == "exit" and message.level is Level.WARNING
    assert message.title == "Exit BTCUSDT long (stop_loss): -107.00 USDT (-1.07% of equity)"
    assert ("Realised P&L: -107.00 USDT = -1.07% of equity (at entry 10000.00 USDT), -2.14% of notional, "
            "-10.70% of margin") in message.body
    # the audit's tolerance: 102 + 0.5 % of 5000 notional = 127
    assert "Planned loss: 102.00 USDT (breach above 127.00 USDT)" in message.body
    assert "BREACH" not in message.body


def test_a_loss_beyond_the_audits_limit_is_flagged_as_a_breach_with_the_audits_reason() -> None:
    trade = closed("48500.0", "-150")  # net -152 > 127
    row = audit_row(trade)
    message = exit_message(trade, row)
    assert row.breach and message.kind == "exit_breach" and message.level is Level.FAILURE
    assert message.title.startswith("BREACH Exit BTCUSDT long (stop_loss): -152.00 USDT")
    assert f"BREACH: {row.breach_reason}" in message.body


def test_an_exit_nobody_knows_claims_no_price_or_pnl() -> None:
    """Closed while the bot was away, no exchange record: the alert says so instead of "closed at the entry
    price, +0.00 USDT" (the stand-ins the journal used to hold)."""
    trade = TradeClosed(trade_id="t1", symbol="BTCUSDT", direction=Direction.LONG, quantity=D("0.1"),
                        entry_price=D("50000.0"), exit_price=None, exit_reason=ExitReason.UNKNOWN, realized_pnl=None,
                        fees=D(0), funding=D(0), planned_stop=D("49000.0"), planned_loss=D("102"), leverage=5,
                        equity_at_entry=D("10000"), opened_ms=T, time_ms=T)
    message = exit_message(trade, audit_row(trade))
    assert (message.kind, message.level) == ("exit_unknown", Level.WARNING)
    assert "unknown" in message.title and "closed while the bot was away" in message.body
    assert " USDT" not in message.body and "0.00" not in message.body


def test_a_winning_exit_is_a_success() -> None:
    trade = closed("52000.0", "200", reason=ExitReason.TAKE_PROFIT)
    message = exit_message(trade, audit_row(trade))
    assert message.level is Level.SUCCESS and "+198.00 USDT" in message.title


def test_the_daily_loss_limit_is_told_apart_from_a_manual_kill_switch() -> None:
    guard = DailyLossGuard(EventBus(), D("5"))
    assert guard.check(EquitySnapshot(D("10000"), D("10000"), D("10000"), 0, T)) is None
    daily = guard.check(EquitySnapshot(D("9400"), D("9400"), D("9400"), 1, T + 1000))
    assert daily is not None
    assert kill_message(daily, daily_loss_prefix=REASON_PREFIX).kind == "daily_loss_limit"
    manual = kill_message(KillSwitch(reason="manual kill switch", time_ms=T), daily_loss_prefix=REASON_PREFIX)
    assert manual.kind == "kill_switch" and "manual kill switch" in manual.body


@run
async def test_alerts_turn_bus_events_into_messages_in_publication_order() -> None:
    got: list[Message] = []
    bus = EventBus(lambda: T)
    alerts(got.append).attach(bus)
    await bus.publish(opened())
    await bus.publish(ProtectionAction(symbol="BTCUSDT", action="placed", reason="stop-loss missing", time_ms=T,
                                       trade_id="t1", order_type="STOP_MARKET", price=D("49000.0")))
    await bus.publish(ProtectionAction(symbol="BTCUSDT", action="placed", reason="sl after entry fill", time_ms=T))
    await bus.publish(ProtectionAction(symbol="BTCUSDT", action="verified", reason="read back OPEN", time_ms=T))
    await bus.publish(closed("48950.0", "-105"))
    report = bus_reporter(bus, lambda: T)
    await report(TaskFailure(name="monitor", error="RuntimeError: boom", traceback="", recent_failures=1,
                             restarts=0, gave_up=False, retry_in_s=0.5))
    assert [m.kind for m in got] == ["entry", "protection_repaired", "exit", "task_died"]
    assert "stop market 49000" in got[1].title
    assert got[3].title == "Background task monitor died" and "restarting in 0.500 s" in got[3].body


@run
async def test_an_alert_that_cannot_be_built_never_reaches_the_bus() -> None:
    bus = EventBus(lambda: T)

    def broken(_trade: TradeClosed) -> object:
        raise RuntimeError("audit bug")

    Alerts(lambda m: None, judge=broken, daily_loss_prefix=REASON_PREFIX,  # type: ignore[arg-type]
           stop_witnessed=STOP_WITNESSED).attach(bus)
    await bus.publish(closed("48950.0", "-105"))
    assert bus.handler_errors == 0


# --- a stop-loss the market jumped through: the alert says what the audit says ----------------------------
#: The trial's trade: a short whose stop at 670.99 the market jumped through to 675, where it filled.
STOP_CLIENT = "qt-t9-sl-0"


def gapped_short() -> TradeClosed:
    """Entry 658, planned stop 670.9 (the order's trigger 670.99), filled at 675: net -132.50 USDT beyond the limit
    100 + 0.5 % of 4935 notional = 124.675, within it plus the jump's 7.5 x 4.01 = 30.075."""
    return TradeClosed(trade_id="t9", symbol="BNBUSDT", direction=Direction.SHORT, quantity=D("7.5"),
                       entry_price=D("658"), exit_price=D("675"), exit_reason=ExitReason.STOP_LOSS,
                       realized_pnl=D("-127.5"), fees=D("5"), funding=D("0"), planned_stop=D("670.9"),
                       planned_loss=D("100"), leverage=5, equity_at_entry=D("10000"), opened_ms=T, time_ms=T + 60_000)


def stop_fired(client_id: str = STOP_CLIENT) -> OrderChanged:
    snap = OrderSnapshot(client_id=client_id, venue_id="1", symbol="BNBUSDT", side=Side.BUY,
                         type=OrderType.STOP_MARKET, status=SnapshotStatus.TRIGGERED, conditional=True,
                         quantity=D("0"), filled=D("0"), avg_price=D("0"), trigger_price=D("670.99"), price=None,
                         reduce_only=True, close_position=True, working_type=WorkingType.MARK_PRICE,
                         update_time=T + 59_000)
    return OrderChanged(snapshot=snap, reason="TRIGGERED", time_ms=T + 59_000)


def witnessed(client_id: str = STOP_CLIENT, trade_id: str | None = "t9") -> ProtectionAction:
    """What trading/stop_witness.py publishes when the stop fires: the mark it read, 675."""
    return ProtectionAction(symbol="BNBUSDT", action=STOP_WITNESSED, time_ms=T + 59_000, trade_id=trade_id,
                            client_id=client_id, order_type="STOP_MARKET", price=D("675"),
                            reason=f"stop-loss {client_id} (trigger 670.99) triggered; mark when the bot heard of "
                                   "it: 675")


async def exit_alert(*events: object) -> Message:
    got: list[Message] = []
    bus = EventBus(lambda: T)
    alerts(got.append).attach(bus)
    for event in (*events, gapped_short()):
        await bus.publish(event)
    assert [m.kind for m in got] == ["exit_breach"] and bus.handler_errors == 0
    return got[0]


@run
async def test_a_gapped_stop_alert_says_what_the_audit_says() -> None:
    """It said "BREACH" and only that the loss exceeded the plan, while `quantum-trader audit` said
    "BREACH (gap)" and that the price jumped through the stop: the alert now judges on the witness's mark."""
    message = await exit_alert(stop_fired(), witnessed())
    # the audit of the same trade, with what the journal holds of its stop (readmodels/journal.py stop_evidence)
    [row] = audit_rows([gapped_short()], triggers={"t9": D("670.99")}, after_trigger={"t9": D("675")})
    assert row.breach and row.gap_explained
    assert "explained by a gap: the price jumped through the stop 670.99 to 675, where it filled" in row.breach_reason
    assert message.title == "BREACH (gap) Exit BNBUSDT short (stop_loss): -132.50 USDT (-1.33% of equity)"
    assert f"BREACH (gap): {row.breach_reason}" in message.body
    assert message.level is Level.FAILURE  # a breach all the same: the audit exits 5, readiness refuses it


@run
async def test_a_stop_placed_before_a_restart_is_matched_by_its_client_id() -> None:
    """The witness names no trade for a stop it did not see placed; the audit matches it by the order's client id."""
    message = await exit_alert(stop_fired("qt-t9-sl-3"), witnessed("qt-t9-sl-3", trade_id=None))
    assert message.title.startswith("BREACH (gap) Exit BNBUSDT short")


@run
async def test_another_trades_witness_explains_nothing() -> None:
    """Nor does it end the wait for the trade's own (notify/alerts.py `HOLD_S`): the exit goes once that is over."""
    got: list[Message] = []
    bus = EventBus(lambda: T)
    Alerts(got.append, judge=audit_row, daily_loss_prefix=REASON_PREFIX, stop_witnessed=STOP_WITNESSED,
           hold_s=0.01).attach(bus)
    for event in (stop_fired("qt-t8-sl-0"), witnessed("qt-t8-sl-0", trade_id="t8"), gapped_short()):
        await bus.publish(event)
    assert got == []
    await asyncio.sleep(0.05)
    [message] = got
    row = audit_row(gapped_short())
    assert message.title.startswith("BREACH Exit BNBUSDT short") and not row.gap_explained
    assert f"BREACH: {row.breach_reason}" in message.body and "gap" not in message.body
