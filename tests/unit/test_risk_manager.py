"""RiskManager: refusals in a fixed order (first wins), approvals carry size, stop and trade id."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from instrument_fixtures import bnb_like, btc_like

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import ExitReason, MarginType
from quantum_trader.domain.events import (
    Direction,
    EntryNotOpened,
    KillSwitch,
    PositionChanged,
    RiskDecision,
    Signal,
    TradeClosed,
)
from quantum_trader.domain.exchange_types import AccountSnapshot, PositionSnapshot, WalletUpdate
from quantum_trader.risk.manager import RiskLimits, RiskManager
from quantum_trader.risk.rules import ALL, UNTIL_RESUMED
from quantum_trader.risk.sizing import SizingRules

D = Decimal
RULES = SizingRules(stop_loss_pct=D("2"), take_profit_pct=D("4"), risk_per_trade_pct=D("1"), leverage=5)


class FakeAccount:
    def __init__(self, equity: str = "10000", prices: dict[str, str] | None = None) -> None:
        self.snapshot = AccountSnapshot(wallet=D(equity), equity=D(equity), available=D(equity))
        self.prices = prices or {"BTCUSDT": "50000", "BNBUSDT": "900"}

    async def account(self) -> AccountSnapshot:
        return self.snapshot

    async def price(self, symbol: str) -> Decimal:
        return D(self.prices[symbol])


class Harness:
    def __init__(self, max_positions: int = 4, cooldown_s: float = 0.0, equity: str = "10000") -> None:
        self.bus = EventBus()
        self.clock = SimulatedClock(start_ms=1_000_000)
        instruments = {"BTCUSDT": btc_like(), "BNBUSDT": bnb_like()}
        self.risk = RiskManager(self.bus, self.clock, instruments, FakeAccount(equity), RULES,
                                RiskLimits(max_positions=max_positions, min_confidence=0.65, cooldown_s=cooldown_s))
        self.risk.attach()
        self.decisions: list[RiskDecision] = []
        self.bus.subscribe(RiskDecision, self.decisions.append)

    def send(self, *events: object) -> RiskDecision:
        async def main() -> None:
            for event in events:
                await self.bus.publish(event)

        asyncio.run(main())
        return self.decisions[-1]


def signal(symbol: str = "BTCUSDT", confidence: float = 0.9, source: str = "sma-cross",
           time_ms: int = 1_700_000_123_456, direction: Direction = Direction.LONG) -> Signal:
    return Signal(symbol=symbol, direction=direction, confidence=confidence, source=source, time_ms=time_ms)


def closed(symbol: str, reason: ExitReason, time_ms: int) -> TradeClosed:
    return TradeClosed(trade_id=f"{symbol}_1", symbol=symbol, direction=Direction.LONG, quantity=D("1"),
                       entry_price=D("100"), exit_price=D("98"), exit_reason=reason, realized_pnl=D("-2"),
                       fees=D(0), funding=D(0), planned_stop=D("98"), planned_loss=D("2"), leverage=5,
                       equity_at_entry=D("1000"), opened_ms=0, time_ms=time_ms)


def test_approval_carries_quantity_stop_and_trade_id() -> None:
    h = Harness()
    decision = h.send(signal())
    assert decision.approved
    assert decision.trade_id == "BTCUSDT_rs_1"  # the clock's second when wired (1000 s = "rs" in base 36), then n
    assert decision.quantity == D("0.093")
    assert decision.planned_stop == D("49000")
    assert decision.planned_take_profit == D("52000")
    assert decision.planned_loss == D("0.093") * D("1074")
    assert decision.leverage == 5
    assert decision.time_ms == 1_000_000  # the injected clock, not the signal's time
    assert h.risk.open_symbols == {"BTCUSDT"}


def test_halted_after_kill_switch_is_the_first_refusal() -> None:
    h = Harness()
    decision = h.send(KillSwitch(reason="daily loss limit", time_ms=1), signal("NOPEUSDT", confidence=0.1))
    assert not decision.approved
    assert decision.reason == f"trading halted: daily loss limit ({UNTIL_RESUMED})"  # not the guard's: manual
    assert h.risk.state == "HALTED"
    h.risk.resume()
    assert h.send(signal()).approved


def test_unknown_symbol_before_confidence() -> None:
    decision = Harness().send(signal("NOPEUSDT", confidence=0.1))
    assert not decision.approved
    assert "NOPEUSDT: not a tradable symbol" in decision.reason


def test_low_confidence_is_refused() -> None:
    decision = Harness().send(signal(confidence=0.5))
    assert not decision.approved
    assert "confidence 0.50 below QT_MIN_CONFIDENCE 0.65" in decision.reason


def test_force_bypasses_confidence() -> None:
    decision = Harness().send(signal(confidence=0.0, source="force"))
    assert decision.approved


def test_one_position_per_symbol() -> None:
    h = Harness()
    assert h.send(signal()).approved
    decision = h.send(signal(direction=Direction.SHORT))
    assert not decision.approved
    assert "already open" in decision.reason


def test_confidence_is_checked_before_one_per_symbol() -> None:
    h = Harness()
    h.send(signal())
    assert "confidence" in h.send(signal(confidence=0.1)).reason


def test_max_positions() -> None:
    h = Harness(max_positions=1)
    assert h.send(signal("BTCUSDT")).approved
    decision = h.send(signal("BNBUSDT"))
    assert not decision.approved
    assert "1 position open: QT_MAX_POSITIONS is 1" in decision.reason


def test_cooldown_after_a_stop_loss() -> None:
    h = Harness(cooldown_s=600)
    h.send(signal("BTCUSDT", time_ms=0))
    decision = h.send(closed("BTCUSDT", ExitReason.STOP_LOSS, time_ms=1_000_000), signal(time_ms=1_300_000))
    assert not decision.approved
    assert "cooling down" in decision.reason and "300 s more" in decision.reason
    assert h.send(signal(time_ms=1_600_000)).approved


@pytest.mark.parametrize(("reason", "words"), [(ExitReason.STOP_LOSS, "a stop-loss"),
                                               (ExitReason.EMERGENCY, "an emergency exit"),
                                               (ExitReason.LIQUIDATION, "a liquidation")])
def test_a_cooldown_names_the_exit_that_started_it(reason: ExitReason, words: str) -> None:
    """A trial's force-entry was refused "after a stop-out" where the trade had ended in an emergency exit."""
    h = Harness(cooldown_s=600)
    h.send(signal("BTCUSDT", time_ms=0))
    decision = h.send(closed("BTCUSDT", reason, time_ms=1_000_000), signal(time_ms=1_300_000))
    assert decision.reason == f"BTCUSDT: cooling down after {words} for 300 s more (QT_COOLDOWN_S)"


def test_take_profit_does_not_start_a_cooldown() -> None:
    h = Harness(cooldown_s=600)
    h.send(signal("BTCUSDT", time_ms=0))
    assert h.send(closed("BTCUSDT", ExitReason.TAKE_PROFIT, time_ms=1_000_000), signal(time_ms=1_000_001)).approved


def test_sizing_refusal_is_passed_through() -> None:
    h = Harness(equity="100")  # budget 1 USDT; the minimum BTC order risks 1.07
    decision = h.send(signal())
    assert not decision.approved
    assert "would risk" in decision.reason
    assert decision.refusal_kind == "minimum_order_too_risky"
    assert h.risk.open_symbols == set()


def not_opened(decision: RiskDecision) -> EntryNotOpened:
    assert decision.trade_id is not None
    return EntryNotOpened(trade_id=decision.trade_id, symbol=decision.signal.symbol, sent=False, dry_run=True,
                          reason="sent nothing (dry run): would buy", time_ms=1)


def test_an_entry_that_opened_nothing_frees_its_slot() -> None:
    """A dry run's entry (staging) is an order that was not placed: the next signal on it, or on another symbol
    with QT_MAX_POSITIONS=1, is approved again, not refused for a position that never opened."""
    h = Harness(max_positions=1)
    first = h.send(signal("BTCUSDT"))
    assert h.send(not_opened(first), signal("BTCUSDT")).approved
    assert h.send(not_opened(h.decisions[-1]), signal("BNBUSDT")).approved
    h.send(not_opened(h.decisions[-1]))
    assert h.risk.open_symbols == set()


def test_a_position_the_exchange_reports_keeps_its_slot_when_the_entry_says_it_opened_nothing() -> None:
    """A timed-out entry that filled after all: the exchange's report counts, whatever execution concluded."""
    h = Harness(max_positions=1)
    entry = h.send(signal("BTCUSDT"))
    snapshot = PositionSnapshot(symbol="BTCUSDT", amount=D("0.093"), entry=D("50000"), mark=D("50000"),
                                unrealized=D(0), leverage=5, margin_type=MarginType.ISOLATED, liquidation_price=None)
    decision = h.send(PositionChanged(snapshot=snapshot, reason="ORDER", time_ms=2), not_opened(entry),
                      signal("BNBUSDT"))
    assert h.risk.open_symbols == {"BTCUSDT"}
    assert decision.reason == "1 position open: QT_MAX_POSITIONS is 1"


def test_a_refused_decision_names_its_kind_and_an_approved_one_none() -> None:
    """The kind is what a backtest counts its refusals by (the reason's words carry prices and times)."""
    h = Harness(max_positions=1, cooldown_s=600)
    approved = h.send(signal("BTCUSDT", time_ms=0))
    assert approved.approved and approved.refusal_kind is None
    assert h.send(signal("BTCUSDT", time_ms=1)).refusal_kind == "position_open"
    assert h.send(signal("BNBUSDT", time_ms=2)).refusal_kind == "position_cap"
    cooling = h.send(closed("BTCUSDT", ExitReason.STOP_LOSS, time_ms=1_000), signal("BTCUSDT", time_ms=2_000))
    assert cooling.refusal_kind == "cooldown"


def position(symbol: str, amount: str, margin_type: MarginType, reason: str = "ORDER") -> PositionChanged:
    return PositionChanged(snapshot=PositionSnapshot(symbol=symbol, amount=D(amount), entry=D("900"), mark=D("900"),
                                                     unrealized=D(0), leverage=5, margin_type=margin_type,
                                                     liquidation_price=None), reason=reason, time_ms=1_000_000)


def test_no_margin_left_refuses_before_sizing_and_tells_the_backtest_to_skip() -> None:
    """The smallest order of these symbols is 5 USDT (MIN_NOTIONAL): at 5x within a 0.95 buffer it takes 1.06 USDT."""
    h = Harness()
    decision = h.send(position("BNBUSDT", "1", MarginType.ISOLATED),
                      WalletUpdate(wallet=D("500"), time_ms=1, cross_wallet=D("1.05")), signal("BTCUSDT"))
    assert not decision.approved and decision.refusal_kind == "no_margin"
    assert decision.reason.startswith("no margin left for any entry: the cross wallet holds 1.05 USDT")
    assert "needs 1.06 USDT at 5x (QT_LEVERAGE)" in decision.reason
    assert h.risk.rules.blocked(frozenset({"BTCUSDT", "BNBUSDT"}), h.clock.now_ms()) is ALL


def test_a_wallet_that_holds_the_smallest_order_goes_on_to_sizing() -> None:
    h = Harness()
    decision = h.send(WalletUpdate(wallet=D("500"), time_ms=1, cross_wallet=D("1.06")), signal("BNBUSDT"))
    assert decision.refusal_kind != "no_margin"
    assert h.risk.rules.blocked(frozenset({"BTCUSDT"}), h.clock.now_ms()) == frozenset()


def test_a_cross_position_or_an_unknown_cross_wallet_leaves_margin_to_sizing() -> None:
    """A cross position's profit adds to what is available, and a report without `cw` says nothing of it."""
    h = Harness()
    held = h.send(position("BNBUSDT", "1", MarginType.CROSSED),
                  WalletUpdate(wallet=D("1"), time_ms=1, cross_wallet=D("0")), signal("BTCUSDT"))
    assert held.refusal_kind != "no_margin"
    assert h.send(position("BNBUSDT", "0", MarginType.CROSSED), signal("BNBUSDT")).refusal_kind == "no_margin"
    assert h.send(WalletUpdate(wallet=D("1"), time_ms=2), signal("BNBUSDT")).refusal_kind != "no_margin"


@pytest.mark.parametrize("reason", ["POLL", "STARTUP"])
def test_a_position_read_from_the_exchange_makes_the_cross_wallet_unknown(reason: str) -> None:
    """With the stream down, a sweep reads that a position closed: its margin went back to a cross wallet no
    report has given since, so the stale one must not keep refusing (no ACCOUNT_UPDATE may come for hours)."""
    h = Harness()
    short = WalletUpdate(wallet=D("500"), time_ms=1, cross_wallet=D("0.5"))
    assert h.send(position("BNBUSDT", "1", MarginType.ISOLATED), short, signal("BTCUSDT")).refusal_kind == "no_margin"
    read = h.send(position("BNBUSDT", "0", MarginType.ISOLATED, reason=reason), signal("BTCUSDT"))
    assert read.refusal_kind != "no_margin"
    assert h.risk.book.cross_wallet is None
