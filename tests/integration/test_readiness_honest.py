"""Readiness counts what the bot proved on its own, with the setup it will trade live (a user trial's findings).

1. Forced entries (`force-entry`) are journaled as signals of confidence 1.00 nobody computed: a journal of
   forced trades alone passed `confidence` and `closed_trades`. They prove the protection path (SL and TP
   placed, acknowledged, stops held), so the protection items count them; the minimum of trades and the
   confidence item count only the strategy's trades, and say how many were forced.
2. Readiness never compared the paper sessions' setup with the start's: a 5x sma-cross journal let a 10x
   ai-scanner start go live, and the bars (QT_READINESS_MIN_TRADES, QT_MIN_CONFIDENCE) were read from the
   start's environment, so they could be lowered at go-live. `same_setup` compares them, sessions with another
   setup are not counted, and the bars are the strictest of the start's, the paper sessions' and a floor of 5.

Journals are real SQLite files written through the real writer and bus (test_live_gate's Recipe), or by the
engine itself trading forced entries on the in-process simulator; the console script reads them as a user
runs it, so these tests say the same on the code before the change (where they fail) and after.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_audit_readiness_cli import cli, document
from test_live_gate import HOUR, LIVE_PATH, Recipe, build_journal, readiness, start_settings

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.events import (
    FORCED,
    Direction,
    OrderNotSent,
    OrderRejectedEvent,
    RiskDecision,
    Signal,
)
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig

T0 = 1_800_000_000_000
FIX = "paper-trade with these settings, or start live with the paper settings"


def readiness_json(url: str, **qt_env: str) -> tuple[int, dict[str, Any]]:
    """`quantum-trader readiness --db URL --json` with the Recipe's setup but for `qt_env`: (exit code, document)."""
    done = cli("readiness", "--db", url, "--json", **qt_env)
    return done.returncode, document(done)


def item(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found = [i for i in doc["items"] if i["name"] == name]
    assert found, f"no item {name}: {[i['name'] for i in doc['items']]}"
    return found[0]


def failed(doc: dict[str, Any]) -> set[str]:
    return {i["name"] for i in doc["items"] if not i["passed"]}


# --- 1. forced entries prove the protection path, not the strategy -------------------------------------------
def test_forced_entries_alone_pass_the_protection_items_but_neither_confidence_nor_the_minimum(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "forced.db", Recipe(forced=5))
    code, doc = readiness_json(url)
    assert code == 1 and doc["ready"] is False
    assert failed(doc) == {"closed_trades", "confidence"}, doc
    confidence = item(doc, "confidence")["evidence"]
    assert (confidence["traded_signals"], confidence["forced_entries_not_counted"]) == (0, 5)
    assert confidence["detail"].startswith("no strategy signal traded yet")
    closed = item(doc, "closed_trades")["evidence"]
    assert (closed["closed"], closed["forced"], closed["closed_all"], closed["required"]) == (0, 5, 5, 5)
    assert closed["trades"] == [] and len(closed["forced_trades"]) == 5
    assert "5 forced entries are not counted" in closed["detail"]
    assert item(doc, "protection_acknowledged")["evidence"]["forced"] == 5  # counted: the same protection path
    assert item(doc, "stops_held")["evidence"]["stop_loss_exits_forced"] == 1


def test_forced_trades_are_named_but_do_not_count_toward_the_minimum(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "mixed.db", Recipe(trades=6, forced=2))
    code, doc = readiness_json(url)
    assert code == 1 and failed(doc) == {"closed_trades"}
    closed = item(doc, "closed_trades")["evidence"]
    assert (closed["closed"], closed["forced"], closed["closed_all"]) == (4, 2, 6)
    assert set(closed["forced_trades"]).isdisjoint(closed["trades"])
    confidence = item(doc, "confidence")["evidence"]
    assert (confidence["traded_signals"], confidence["forced_entries_not_counted"]) == (4, 2)


def approved_untraded(n: int, end: str) -> list[object]:
    """A strategy signal risk approved (confidence 0.8) whose entry opened nothing, `n` minutes into the session:
    `rejected` by the exchange, a `dry_run` staging journaled, or `killed` before its order was journaled."""
    at = T0 + n * 60_000
    trade_id = f"ETHUSDT_{at}"
    signal = Signal("ETHUSDT", Direction.LONG, 0.8, "sma-cross", at, reference_price=Decimal("2500"))
    events: list[object] = [signal, RiskDecision(signal, True, "sized by planned loss", at + 1, trade_id=trade_id,
                                                 quantity=Decimal("0.5"), leverage=5)]
    intent = OrderIntent(client_id=f"qt-{trade_id}-entry-0", symbol="ETHUSDT", side=Side.BUY, type=OrderType.MARKET,
                         quantity=Decimal("0.5"))
    if end == "rejected":
        events.append(OrderRejectedEvent(intent, trade_id, "entry", -2019, "Margin is insufficient.", at + 2))
    elif end == "dry_run":
        events.append(OrderNotSent(intent, trade_id, "entry", "sma-cross signal (staging)", at + 2))
    return events


def test_confidence_counts_only_entries_sent_and_filled(tmp_path: Path) -> None:
    """The confidence item counted every approved signal as traded: an entry the exchange refused, a dry run's and
    one the bot never sent made 8 traded signals of 5 trades (the Signals panel's outcome tells them apart)."""
    extra = [*approved_untraded(3, "rejected"), *approved_untraded(4, "dry_run"), *approved_untraded(5, "killed")]
    result = readiness(build_journal(tmp_path / "paper.db", Recipe(extra=extra)))
    confidence = next(i for i in result["items"] if i["name"] == "confidence")
    assert confidence["passed"] is True and confidence["evidence"]["traded_signals"] == 5  # was 8
    assert confidence["evidence"]["approved_not_traded"] == 3


def test_an_approved_strategy_entry_the_exchange_refused_does_not_pass_confidence(tmp_path: Path) -> None:
    """Forced trades and one strategy signal whose entry was refused: no strategy signal traded (it passed)."""
    result = readiness(build_journal(tmp_path / "paper.db", Recipe(forced=5, extra=approved_untraded(3, "rejected"))))
    confidence = next(i for i in result["items"] if i["name"] == "confidence")
    assert confidence["passed"] is False, confidence
    assert (confidence["evidence"]["traded_signals"], confidence["evidence"]["approved_not_traded"]) == (0, 1)
    assert confidence["evidence"]["detail"].startswith("no strategy signal traded yet")


async def forced_stop_outs(url: str, n: int) -> None:
    """A manual-strategy paper session as the engine trades it: `n` forced longs of BNB at 658 (the signal
    the API's force-entry publishes), each walked down through its stop, on the in-process simulator
    (journaled as on the live path, as test_audit_stops does, so readiness counts it)."""
    sim = ExchangeSimulator({"BNBUSDT": load_universe().instrument("BNBUSDT")}, SimConfig(start_time_ms=T0))
    exchange = InProcessExchange(sim)
    clock = SimulatedClock(T0)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", json.dumps(start_settings(strategy="manual").public_dict()), "test",
                              **LIVE_PATH)
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal)
        protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
        for _ in range(n):
            sim.set_prices({"BNBUSDT": "658"})
            await publish_all(engine.bus, clock, exchange.drain())
            await engine.bus.publish(Signal(symbol="BNBUSDT", direction=Direction.LONG, confidence=1.0,
                                            source=FORCED, time_ms=clock.now_ms(), reason="force-entry"))
            await publish_all(engine.bus, clock, exchange.drain())
            for price in ("650", "647", "646", "645.5", "645", "644.5", "644"):
                clock.advance(1.0)
                sim.set_prices({"BNBUSDT": price})
                await publish_all(engine.bus, clock, exchange.drain())
            clock.advance(600.0)


def test_the_engines_forced_stop_outs_prove_the_stops_but_not_a_strategy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'manual.db'}"
    asyncio.run(forced_stop_outs(url, 5))
    code, doc = readiness_json(url, QT_STRATEGY="sma-cross")  # a strategy's start: manual paper proves no strategy
    assert code == 1 and {"closed_trades", "confidence", "same_setup"} <= failed(doc)
    code, doc = readiness_json(url, QT_STRATEGY="manual")  # trading by hand: forced entries are its trades
    closed = item(doc, "closed_trades")
    assert closed["passed"] is True and (closed["evidence"]["closed"], closed["evidence"]["forced"]) == (5, 0)
    assert "QT_STRATEGY=manual" in closed["evidence"]["detail"]
    confidence = item(doc, "confidence")
    assert confidence["passed"] is True and confidence["evidence"]["traded_signals"] == 0
    assert confidence["evidence"]["detail"].startswith("QT_STRATEGY=manual: a person picks every entry")
    stops = item(doc, "stops_held")
    assert stops["passed"] is True and stops["evidence"]["stop_loss_exits"] == 5, stops
    assert stops["evidence"]["stop_loss_exits_forced"] == 5
    protection = item(doc, "protection_acknowledged")
    assert protection["passed"] is True and protection["evidence"]["forced"] == 5, protection
    assert item(doc, "same_setup")["passed"] is True  # a manual start: the session's own setup


# --- 2. the setup paper proved, and bars that cannot be lowered at go-live -------------------------------------
def test_a_start_with_another_setup_fails_same_setup_naming_each_difference_and_the_fix(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    code, doc = readiness_json(url, QT_STRATEGY="ai-scanner", QT_STOP_LOSS_PCT="1.5", QT_TAKE_PROFIT_PCT="6",
                               QT_LEVERAGE="10", QT_RISK_PER_TRADE_PCT="2", QT_MIN_CONFIDENCE="0.5")
    assert code == 1
    setup = item(doc, "same_setup")
    assert setup["passed"] is False
    assert setup["evidence"]["differences"] == [
        "session #1: QT_STRATEGY ai-scanner here, sma-cross in paper",
        "session #1: QT_STOP_LOSS_PCT 1.5 here, 2.0 in paper",
        "session #1: QT_TAKE_PROFIT_PCT 6 here, 4.0 in paper",
        "session #1: QT_LEVERAGE 10 here, 5 in paper (above paper)",
        "session #1: QT_RISK_PER_TRADE_PCT 2 here, 1.0 in paper (above paper)",
        "session #1: QT_MIN_CONFIDENCE 0.5 here, 0.65 in paper (below paper)",
    ]
    assert setup["evidence"]["fix"] == FIX and FIX in setup["evidence"]["detail"]
    # What the session proved was another setup: no item counts it, each says why.
    assert failed(doc) == {"closed_trades", "protection_acknowledged", "stops_held", "monitor_clean", "confidence",
                           "same_setup"}
    [left_out] = item(doc, "closed_trades")["evidence"]["not_counted"]
    assert left_out["id"] == 1 and left_out["why"].startswith("its setup differs from this start's: QT_STRATEGY")


def test_lower_leverage_and_risk_and_a_higher_confidence_bar_keep_the_setup(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    code, doc = readiness_json(url, QT_LEVERAGE="3", QT_RISK_PER_TRADE_PCT="0.5", QT_MIN_CONFIDENCE="0.7")
    assert code == 0, failed(doc)
    setup = item(doc, "same_setup")
    assert setup["passed"] is True and setup["evidence"]["differences"] == [] and setup["evidence"]["fix"] is None
    assert setup["evidence"]["this_start"]["QT_LEVERAGE"] == "3"
    assert [s["id"] for s in setup["evidence"]["sessions"]] == [1]


def test_a_live_start_with_more_leverage_than_paper_is_refused_by_the_table_too(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    table = cli("readiness", "--db", url, QT_LEVERAGE="20")
    assert table.returncode == 1 and "NOT READY" in table.stdout
    lines = table.stdout.splitlines()
    assert any(line.startswith("same_setup: counted sessions: none; not counted: #1 (its setup differs from this "
                               "start's: QT_LEVERAGE 20 here, 5 in paper (above paper))") for line in lines), lines


def test_paper_with_another_setup_is_left_out_and_paper_with_this_setup_counts(tmp_path: Path) -> None:
    """Five trades at 3x, then two at 5x: a 5x start counts the two; the fix (paper-trade with these settings)
    works without a new journal."""
    url = build_journal(tmp_path / "paper.db", Recipe(settings={"leverage": 3}), Recipe(trades=2))
    code, doc = readiness_json(url, QT_LEVERAGE="5")
    assert code == 1 and failed(doc) == {"closed_trades"}
    setup = item(doc, "same_setup")["evidence"]
    assert setup["detail"] == ("1 paper session on the live path with this start's setup; 1 paper session with "
                               "another setup not counted")
    assert [s["id"] for s in setup["sessions"]] == [2]
    assert setup["differences"] == ["session #1: QT_LEVERAGE 5 here, 3 in paper (above paper)"]
    assert [s["id"] for s in setup["not_counted"]] == [1]
    assert item(doc, "closed_trades")["evidence"]["closed"] == 2
    code, doc = readiness_json(url, QT_LEVERAGE="3")  # the first session's leverage: both count
    assert code == 0, failed(doc)


def test_the_minimum_of_trades_cannot_be_lowered_below_five(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "short.db", Recipe(trades=3))
    code, doc = readiness_json(url, QT_READINESS_MIN_TRADES="1")
    assert code == 1 and failed(doc) == {"closed_trades"}
    closed = item(doc, "closed_trades")["evidence"]
    assert (closed["closed"], closed["required"]) == (3, 5)
    assert closed["QT_READINESS_MIN_TRADES"] == {"floor": 5, "this_start": 1, "paper_sessions": 5,
                                                 "rule": "the largest of the three"}


def test_the_paper_sessions_minimum_of_trades_holds_at_go_live(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db", Recipe(trades=6, settings={"readiness_min_trades": 8}))
    code, doc = readiness_json(url)  # this start's QT_READINESS_MIN_TRADES: the default 5
    assert code == 1 and failed(doc) == {"closed_trades"}
    assert item(doc, "closed_trades")["evidence"]["required"] == 8


def test_lowering_qt_min_confidence_at_go_live_does_not_pass_paper_signals_below_the_paper_bar(tmp_path: Path) -> None:
    """Paper journaled traded signals of 0.5 under a bar of 0.65 (a broken filter); a start with 0.4 used to
    pass them. The start trades signals paper never could: that session is not evidence for it."""
    url = build_journal(tmp_path / "paper.db", Recipe(traded_confidence=0.5))
    code, doc = readiness_json(url, QT_MIN_CONFIDENCE="0.4")
    assert code == 1
    assert {"confidence", "same_setup"} <= failed(doc)
    assert item(doc, "same_setup")["evidence"]["differences"] == [
        "session #1: QT_MIN_CONFIDENCE 0.4 here, 0.65 in paper (below paper)"]
    code, doc = readiness_json(url)  # with the paper bar, the signals below it fail the item
    assert failed(doc) == {"confidence"} and item(doc, "confidence")["evidence"]["below_minimum"] == ["BNBUSDT"] * 5


def test_the_confidence_bar_is_the_stricter_of_the_start_and_the_paper_sessions(tmp_path: Path) -> None:
    """A start may raise QT_MIN_CONFIDENCE (it trades a subset of paper's signals); the bar applied is then its."""
    url = build_journal(tmp_path / "paper.db", Recipe(traded_confidence=0.7))
    code, doc = readiness_json(url, QT_MIN_CONFIDENCE="0.75")
    assert code == 1 and failed(doc) == {"confidence"}
    confidence = item(doc, "confidence")["evidence"]
    assert confidence["QT_MIN_CONFIDENCE"] == 0.75
    assert confidence["QT_MIN_CONFIDENCE_from"] == {"this_start": 0.75, "paper_sessions": 0.65,
                                                    "rule": "the larger of the two"}


def test_a_recipe_over_two_hours_still_passes_with_its_own_setup(tmp_path: Path) -> None:
    """The control: the same journals pass for a start with the paper setup."""
    url = build_journal(tmp_path / "paper.db", Recipe(equity_span_ms=2 * HOUR))
    code, doc = readiness_json(url)
    assert code == 0, failed(doc)
    assert item(doc, "same_setup")["evidence"]["detail"] == "1 paper session on the live path with this start's setup"
