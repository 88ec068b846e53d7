"""An entry whose symbol's leverage the exchange refuses frees the slot risk held for it, and says why.

Execution sets a symbol's margin type and leverage before its first entry. When the exchange refused the
leverage (-4028: Binance lowered the symbol's largest leverage after the bot loaded its brackets), the exception
left execution before the entry was sent and before `EntryNotOpened` was published, so risk kept the slot it
had held since the approval: with QT_MAX_POSITIONS=1 every later signal was refused "1 position open" while
no position was. The entry is now journaled as not sent with the exchange's answer, and `EntryNotOpened`
(sent=False) frees the slot. In-process simulator, SQLite journal.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, EntryNotOpened, RiskDecision, Signal, TradeOpened
from quantum_trader.domain.instrument import Instrument
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal
from quantum_trader.journal.reader import JournalReader
from quantum_trader.readmodels.signal_outcome import signals_json
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

LOWERED = 20  # the exchange's largest leverage for LINKUSDT now; the bot's brackets still say more


def _lowered(inst: Instrument) -> Instrument:
    return replace(inst, brackets=tuple(replace(b, initial_leverage=min(b.initial_leverage, LOWERED))
                                        for b in inst.brackets))


async def _refused_then_valid(db_url: str) -> list[object]:
    universe = load_universe()
    known = {s: universe.instrument(s) for s in ("LINKUSDT", "ETHUSDT")}
    assert known["LINKUSDT"].max_leverage > LOWERED
    sim = ExchangeSimulator({**known, "LINKUSDT": _lowered(known["LINKUSDT"])}, SimConfig())
    sim.set_prices({"LINKUSDT": "20", "ETHUSDT": "2500"})
    exchange = InProcessExchange(sim)
    exchange.drain()
    clock = SimulatedClock(sim.state.now_ms)
    journal = Journal.open(db_url, now_ms=clock.now_ms)
    journal.start_session("paper", "{}", "test")
    # A 0.5 % stop: at the bot's 75x the position is liquidated about 0.9 % away (a 2 % stop is refused for that).
    engine = wire_engine(clock, exchange, known, TradingRules(leverage=75, max_positions=1,
                                                              stop_loss_pct=Decimal("0.5"),
                                                              take_profit_pct=Decimal("1")), journal=journal)
    seen: list[object] = []
    engine.bus.subscribe(object, seen.append)
    for symbol in ("LINKUSDT", "ETHUSDT"):
        await engine.bus.publish(Signal(symbol=symbol, direction=Direction.LONG, confidence=1.0, source="force",
                                        time_ms=clock.now_ms()))
        await publish_all(engine.bus, clock, exchange.drain())
    journal.close()
    return seen


def test_a_refused_leverage_frees_the_slot_and_is_journaled_as_not_sent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    seen = asyncio.run(_refused_then_valid(url))
    decisions = [(d.signal.symbol, d.approved, d.reason) for d in seen if isinstance(d, RiskDecision)]
    assert [(symbol, approved) for symbol, approved, _ in decisions] == [("LINKUSDT", True), ("ETHUSDT", True)], \
        decisions  # was: ETHUSDT refused "1 position open: QT_MAX_POSITIONS is 1"
    (not_opened,) = [e for e in seen if isinstance(e, EntryNotOpened)]
    assert (not_opened.symbol, not_opened.sent, not_opened.dry_run) == ("LINKUSDT", False, False)
    assert not_opened.reason.startswith("not sent: the exchange refused leverage 75 for LINKUSDT: -4028 ")
    assert [e.symbol for e in seen if isinstance(e, TradeOpened)] == ["ETHUSDT"]
    reader = JournalReader(url)
    outcomes = {s["symbol"]: (s["outcome"], s["outcome_detail"]) for s in signals_json(reader, reader.signals())}
    reader.close()
    assert outcomes["ETHUSDT"] == ("traded", None)
    assert outcomes["LINKUSDT"][0] == "rejected" and "refused leverage 75" in outcomes["LINKUSDT"][1]
