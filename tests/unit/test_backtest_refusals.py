"""A backtest's refusals (readmodels/refusals.py): risk's decisions counted by kind with the first of each, and
the warning for a run in which risk refused every signal (0 trades, exit 0, and nothing said why)."""

from __future__ import annotations

from quantum_trader.domain.events import Direction, RiskDecision, Signal
from quantum_trader.readmodels.refusals import RefusalTally, all_refused

SIGNAL = Signal("LINKUSDT", Direction.LONG, 1.0, "sma-cross", 0)
LIQUIDATED = ("LINKUSDT: at 40x the position would be liquidated at about 10.196, before its 2% stop-loss at 10.202 "
              "could fire: lower --param leverage or QT_STOP_LOSS_PCT")


def refused(kind: str | None, reason: str) -> RiskDecision:
    return RiskDecision(signal=SIGNAL, approved=False, reason=reason, time_ms=0, refusal_kind=kind)


def tally(*decisions: RiskDecision) -> dict[str, object]:
    counter = RefusalTally()
    for decision in decisions:
        counter.on_decision(decision)
    return counter.to_json()


def test_refusals_are_counted_by_kind_most_frequent_first_with_the_first_refusal_of_each() -> None:
    approved = RiskDecision(signal=SIGNAL, approved=True, reason="ok", time_ms=0)
    doc = tally(refused("cooldown", "cooling down 1"), approved, refused("halted", "halted 1"),
                refused("halted", "halted 2"), refused(None, "a rule of its own"))
    assert doc == {"signals": 5, "approved": 1, "refused": 4,
                   "by_kind": {"halted": {"count": 2, "example": "halted 1"},
                               "cooldown": {"count": 1, "example": "cooling down 1"},
                               "other": {"count": 1, "example": "a rule of its own"}}}
    assert all_refused(doc) is None  # one signal passed: no warning
    assert all_refused(tally()) is None  # no signal at all (the manual strategy): nothing was refused


def test_every_signal_refused_for_one_reason_is_one_warning_naming_it_and_the_fix() -> None:
    doc = tally(*(refused("stop_beyond_liquidation", LIQUIDATED) for _ in range(1602)))
    assert all_refused(doc) == ("risk refused all 1,602 signals, every one for the same reason "
                                f"(stop_beyond_liquidation), so no position was opened: {LIQUIDATED}")


def test_every_signal_refused_for_several_reasons_lists_them_and_shows_the_most_frequent() -> None:
    doc = tally(refused("stop_too_close", "too close"), refused("stop_beyond_liquidation", LIQUIDATED),
                refused("stop_beyond_liquidation", LIQUIDATED))
    assert all_refused(doc) == ("risk refused all 3 signals (stop_beyond_liquidation 2, stop_too_close 1), so no "
                                f"position was opened; the first stop_beyond_liquidation: {LIQUIDATED}")
