"""Each risk rule alone, as a table: the refusal users read, and what it tells the backtest it may skip.

`blocked` must name only blocks that last until risk's state changes (a skipped bar is never revisited),
so the time-limited ones (a daily halt, a cooldown, the first-day cap) answer nothing there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from instrument_fixtures import bnb_like, btc_like

from quantum_trader.domain.events import Direction, Signal
from quantum_trader.risk.daily_loss import DAY_MS
from quantum_trader.risk.rules import (
    ALL,
    NONE,
    UNTIL_RESUMED,
    Blocked,
    ConfidenceRule,
    CooldownRule,
    HaltRule,
    OnePerSymbolRule,
    PositionCapRule,
    RiskBook,
    RiskLimits,
    RiskPipeline,
    RiskRule,
    TradableRule,
    default_rules,
)

DAY0 = 20_454 * DAY_MS  # 2026-01-01 00:00 UTC
NOW = DAY0 + 3_600_000
SYMBOLS = frozenset({"BTCUSDT", "BNBUSDT"})


def book(max_positions: int = 4, live_since_ms: int | None = None, live_max: int = 2) -> RiskBook:
    limits = RiskLimits(max_positions=max_positions, min_confidence=0.65, live_since_ms=live_since_ms,
                        live_max_positions=live_max)
    return RiskBook(limits, {"BTCUSDT": btc_like(), "BNBUSDT": bnb_like()})


def signal(symbol: str = "BTCUSDT", confidence: float = 0.9, source: str = "sma-cross",
           time_ms: int = NOW) -> Signal:
    return Signal(symbol=symbol, direction=Direction.LONG, confidence=confidence, source=source, time_ms=time_ms)


def manual_halt(b: RiskBook) -> None:
    b.halted_reason = "manual kill switch"


def daily_halt(b: RiskBook) -> None:
    b.halted_reason, b.halted_until_ms = "daily loss limit", DAY0 + DAY_MS


def holding(*symbols: str) -> Callable[[RiskBook], None]:
    return lambda b: b.open_symbols.update(symbols)

#: The refusals' words: a manual halt says how it ends; an unknown symbol, which symbols the session trades.
MANUAL_HALT = f"trading halted: manual kill switch ({UNTIL_RESUMED})"
NOT_TRADABLE = "NOPEUSDT: not a tradable symbol of this session (BNBUSDT, BTCUSDT)"


def cooling(symbol: str, until_ms: int) -> Callable[[RiskBook], None]:
    return lambda b: b.cooldown_until.__setitem__(symbol, until_ms)


@dataclass(frozen=True)
class Case:
    rule: Callable[[RiskBook], RiskRule]
    setup: Callable[[RiskBook], None]
    signal: Signal
    refusal: str | None
    blocked: Blocked
    book: Callable[[], RiskBook] = book


CASES = {
    "active: no halt": Case(HaltRule, lambda b: None, signal(), None, NONE),
    "manual halt": Case(HaltRule, manual_halt, signal(), MANUAL_HALT, ALL),
    "daily halt: lifts by itself, so blocks nothing": Case(
        HaltRule, daily_halt, signal(), "trading halted: daily loss limit (until 2026-01-02 00:00 UTC)", NONE),
    "tradable symbol": Case(TradableRule, lambda b: None, signal(), None, NONE),
    "unknown symbol": Case(TradableRule, lambda b: None, signal("NOPEUSDT"), NOT_TRADABLE, NONE),
    "confidence at the floor": Case(ConfidenceRule, lambda b: None, signal(confidence=0.65), None, NONE),
    "confidence below the floor: per signal, blocks nothing": Case(
        ConfidenceRule, lambda b: None, signal(confidence=0.5), "confidence 0.50 below QT_MIN_CONFIDENCE 0.65", NONE),
    "confidence NaN": Case(ConfidenceRule, lambda b: None, signal(confidence=float("nan")),
                           "confidence nan below QT_MIN_CONFIDENCE 0.65", NONE),
    "a forced entry ignores confidence": Case(ConfidenceRule, lambda b: None, signal(confidence=0.0, source="force"),
                                              None, NONE),
    "symbol free": Case(OnePerSymbolRule, holding("BNBUSDT"), signal(), None, frozenset({"BNBUSDT"})),
    "symbol already open": Case(OnePerSymbolRule, holding("BTCUSDT", "ETHUSDT"), signal(),
                                "BTCUSDT: a position is already open (one per symbol)", frozenset({"BTCUSDT"})),
    "a slot free": Case(PositionCapRule, holding("BNBUSDT"), signal(), None, NONE, lambda: book(max_positions=2)),
    "every slot taken": Case(PositionCapRule, holding("BNBUSDT"), signal(), "1 position open: QT_MAX_POSITIONS is 1",
                             ALL, lambda: book(max_positions=1)),
    "first live day: the cap rises by itself, so blocks nothing": Case(
        PositionCapRule, holding("BNBUSDT", "ETHUSDT"), signal(),
        "2 positions open: QT_LIVE_MAX_POSITIONS is 2 during the first live day", NONE,
        lambda: book(live_since_ms=DAY0)),
    "first live day, QT_MAX_POSITIONS reached too": Case(
        PositionCapRule, holding("BNBUSDT"), signal(), "1 position open: QT_MAX_POSITIONS is 1", ALL,
        lambda: book(max_positions=1, live_since_ms=DAY0)),
    "no cooldown": Case(CooldownRule, cooling("BNBUSDT", NOW + 1), signal(), None, NONE),
    "cooling down: ends by itself, so blocks nothing": Case(
        CooldownRule, cooling("BTCUSDT", NOW + 300_000), signal(),
        "BTCUSDT: cooling down after a stop-out for 300 s more (QT_COOLDOWN_S)", NONE),
    "cooldown over at its last millisecond": Case(CooldownRule, cooling("BTCUSDT", NOW), signal(), None, NONE),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_rule_refuses_in_its_own_words_and_blocks_only_what_lasts(case: Case) -> None:
    b = case.book()
    case.setup(b)
    rule = case.rule(b)
    assert rule.refusal(case.signal, NOW) == case.refusal
    assert rule.blocked(SYMBOLS, NOW) == case.blocked


def test_a_daily_halt_lifts_at_midnight_for_the_rule_and_the_book() -> None:
    b = book()
    daily_halt(b)
    rule = HaltRule(b)
    assert rule.refusal(signal(time_ms=DAY0 + DAY_MS - 1), DAY0 + DAY_MS - 1) is not None
    assert rule.refusal(signal(time_ms=DAY0 + DAY_MS), DAY0 + DAY_MS) is None
    assert b.halted_reason is None and b.halted_until_ms is None


def test_the_unknown_symbol_rule_blocks_symbols_outside_the_instruments() -> None:
    assert TradableRule(book()).blocked(frozenset({"BTCUSDT", "NOPEUSDT"}), NOW) == frozenset({"NOPEUSDT"})


def test_only_rules_reading_the_signal_alone_say_so() -> None:
    b = book()
    assert [type(r).__name__ for r in default_rules(b) if r.signal_only] == ["TradableRule", "ConfidenceRule"]


# --- the pipeline --------------------------------------------------------------------------------------
def test_the_first_refusal_wins_in_the_documented_order() -> None:
    """Every cause at once, then one lifted at a time: each refusal shows once those before it are gone."""
    b = book(max_positions=1)
    manual_halt(b)
    holding("BTCUSDT")(b)
    cooling("BTCUSDT", NOW + 1_000)(b)
    pipeline = RiskPipeline(default_rules(b))
    assert pipeline.refusal(signal("NOPEUSDT", confidence=0.1), NOW) == MANUAL_HALT
    b.halted_reason = None
    assert pipeline.refusal(signal("NOPEUSDT", confidence=0.1), NOW) == NOT_TRADABLE
    assert pipeline.refusal(signal(confidence=0.1), NOW) == "confidence 0.10 below QT_MIN_CONFIDENCE 0.65"
    assert pipeline.refusal(signal(), NOW) == "BTCUSDT: a position is already open (one per symbol)"
    b.open_symbols.clear()
    holding("BNBUSDT")(b)
    assert pipeline.refusal(signal(), NOW) == "1 position open: QT_MAX_POSITIONS is 1"
    b.open_symbols.clear()
    assert pipeline.refusal(signal(), NOW) == "BTCUSDT: cooling down after a stop-out for 1 s more (QT_COOLDOWN_S)"
    b.cooldown_until.clear()
    assert pipeline.refusal(signal(), NOW) is None


def test_the_signal_only_refusal_ignores_state_and_time() -> None:
    b = book(max_positions=1)
    manual_halt(b)
    holding("BTCUSDT")(b)
    pipeline = RiskPipeline(default_rules(b))
    assert pipeline.signal_refusal(signal()) is None  # halted and open, but that can change
    assert pipeline.signal_refusal(signal(confidence=0.5)) == "confidence 0.50 below QT_MIN_CONFIDENCE 0.65"
    assert pipeline.signal_refusal(signal("NOPEUSDT", confidence=0.5)) == NOT_TRADABLE


def test_blocked_is_the_union_and_all_wins() -> None:
    b = book(max_positions=2)
    holding("BTCUSDT")(b)
    pipeline = RiskPipeline(default_rules(b))
    assert pipeline.blocked(SYMBOLS | {"NOPEUSDT"}, NOW) == frozenset({"BTCUSDT", "NOPEUSDT"})
    holding("BNBUSDT")(b)
    assert pipeline.blocked(SYMBOLS, NOW) is ALL
    b.open_symbols.clear()
    assert pipeline.blocked(SYMBOLS, NOW) == NONE
    manual_halt(b)
    assert pipeline.blocked(SYMBOLS, NOW) is ALL
