"""The kill switch in staging against the in-process simulator: it reports what it *would* cancel and close,
and so do its log line and its journal row for each position, while nothing is sent.

The tester's case: the API answered "sent nothing (dry run): would cancel ..." but the log said
`[warning] emergency exit amount=1000 ...` and the journal's protection action said `emergency_exit`,
as if the position had been closed. Paper/live keep `emergency_exit`, announced before the order leaves.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.events import CancelNotSent, KillSwitch, OrderIntentRecorded, ProtectionAction
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.staging_gateway import DryRunGateway
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.execution import DRY_RUN_WORDING, SENT_WORDING
from quantum_trader.trading.kill_switch import KillSwitchHandler
from quantum_trader.trading.monitor import MonitorConfig

SYMBOL = "BTCUSDT"


async def _kill(*, staging: bool, entry: bool = False, position: bool = True,
                ) -> tuple[list[object], list[dict[str, object]], KillSwitchHandler, ExchangeSimulator]:
    """A long of 0.01 BTC with a hand-placed stop (without `position`: neither), with `entry` a resting entry
    order, then the manual kill switch; the events and logs it gave."""
    universe = load_universe()
    sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig())
    sim.set_prices({SYMBOL: "100000"})
    exchange = InProcessExchange(sim)
    if position:
        sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.010"})
        await exchange.place(OrderIntent(client_id="hand-sl", symbol=SYMBOL, side=Side.SELL,
                                         type=OrderType.STOP_MARKET, trigger_price=Decimal("98000"),
                                         close_position=True, working_type=WorkingType.MARK_PRICE))
    if entry:
        await exchange.place(OrderIntent(client_id="hand-entry", symbol=SYMBOL, side=Side.BUY, type=OrderType.LIMIT,
                                         quantity=Decimal("0.010"), price=Decimal("90000"),
                                         time_in_force=TimeInForce.GTC))
    clock = SimulatedClock(1_800_000_000_000)
    engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(),
                         gateway=DryRunGateway() if staging else None,
                         exit_wording=DRY_RUN_WORDING if staging else SENT_WORDING)
    _, kill = protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
    events: list[object] = []
    engine.bus.subscribe(object, events.append)
    with capture_logs() as logs:
        await engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=clock.now_ms()))
    return events, logs, kill, sim


def _actions(events: list[object]) -> list[ProtectionAction]:
    return [e for e in events if isinstance(e, ProtectionAction)]


def test_staging_kill_switch_says_would_in_its_log_and_journal_and_sends_nothing() -> None:
    events, logs, kill, sim = asyncio.run(_kill(staging=True))
    assert sim.position(SYMBOL).amount == Decimal("0.010") and len(sim.open_algo_orders(SYMBOL)) == 1
    assert kill.last.summary() == ("sent nothing (dry run): would cancel 1 order (hand-sl) and close 1 position "
                                   f"({SYMBOL} 0.01)")
    per_position = [a for a in _actions(events) if a.symbol == SYMBOL]
    assert [a.action for a in per_position] == ["would_emergency_exit"]
    assert per_position[0].reason == "would close 0.01 at market: kill switch: manual kill switch"
    exits = [entry for entry in logs if "emergency exit" in str(entry["event"])]
    assert [(e["event"], e["log_level"]) for e in exits] == [("emergency exit not sent (dry run)", "warning")]
    intents = [e for e in events if isinstance(e, OrderIntentRecorded)]
    assert [i.purpose for i in intents] == ["kill"]  # still journaled as the order it would send (DRY_RUN)


def test_staging_kill_switch_lists_each_order_once_in_the_order_it_would_send() -> None:
    """What could add exposure first (the entry), then the exit, then what would be left once the position is
    closed (its stop): a dry run follows the same order as a real kill switch, each order said once."""
    events, _, kill, sim = asyncio.run(_kill(staging=True, entry=True))
    assert len(sim.open_orders(SYMBOL)) == 1 and len(sim.open_algo_orders(SYMBOL)) == 1  # nothing was sent
    assert kill.last.summary() == ("sent nothing (dry run): would cancel 2 orders (hand-entry, hand-sl) and close "
                                   f"1 position ({SYMBOL} 0.01)")
    said = [(e.client_id, e.reason) if isinstance(e, CancelNotSent) else ("exit", e.action) for e in events
            if isinstance(e, CancelNotSent) or (isinstance(e, ProtectionAction) and e.symbol == SYMBOL)]
    assert [what for what, _ in said] == ["hand-entry", "exit", "hand-sl"]
    assert said[0][1].startswith("would cancel: kill switch: manual kill switch") and said[1][1] == (
        "would_emergency_exit")


@pytest.mark.parametrize(("entry", "staging", "summary"), [
    (False, True, "sent nothing (dry run): would cancel 0 orders and close 0 positions"),
    (True, True, "sent nothing (dry run): would cancel 1 order (hand-entry) and close 0 positions"),
    (False, False, "cancelled 0 orders, closed 0 positions"),
])
def test_a_kill_switch_without_positions_says_whether_it_sent_anything(entry: bool, staging: bool,
                                                                       summary: str) -> None:
    """Staging with nothing to close said "cancelled 0 orders, closed 0 positions", as a paper or live kill switch
    that flattened nothing says: it now says it sent nothing (dry run), as staging's other answers do (and a dry
    run with orders only no longer lists "close 0 positions ()")."""
    _, _, kill, sim = asyncio.run(_kill(staging=staging, entry=entry, position=False))
    assert kill.last.summary() == summary
    assert len(sim.open_orders(SYMBOL)) == (1 if entry and staging else 0)


def test_paper_kill_switch_announces_the_exit_before_sending_it() -> None:
    events, logs, kill, sim = asyncio.run(_kill(staging=False))
    assert sim.position(SYMBOL).amount == 0 and kill.last.closed_positions == 1
    actions = [a for a in _actions(events) if a.symbol == SYMBOL]
    assert [a.action for a in actions] == ["emergency_exit"]
    announced = events.index(actions[0])
    sent = next(i for i, e in enumerate(events) if isinstance(e, OrderIntentRecorded) and e.purpose == "kill")
    assert announced < sent
    assert [e["event"] for e in logs if "emergency exit" in str(e["event"])] == ["emergency exit"]


def test_staging_software_stop_is_journaled_as_would() -> None:
    """The monitor's software stop goes through the same exit: in staging it is `would_software_stop`."""
    async def body() -> list[ProtectionAction]:
        universe = load_universe()
        sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig())
        sim.set_prices({SYMBOL: "100000"})
        sim.new_order({"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": "0.010"})
        exchange = InProcessExchange(sim)
        clock = SimulatedClock(1_800_000_000_000)
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), gateway=DryRunGateway(),
                             exit_wording=DRY_RUN_WORDING)
        events: list[object] = []
        engine.bus.subscribe(object, events.append)
        result = await engine.execution.emergency_exit("t1", SYMBOL, "mark beyond stop", purpose="soft",
                                                       action="software_stop")
        assert result is not None and result.not_sent and sim.position(SYMBOL).amount == Decimal("-0.010")
        return _actions(events)

    assert [(a.action, a.reason) for a in asyncio.run(body())] == [
        ("would_software_stop", "would close -0.01 at market: mark beyond stop")]
