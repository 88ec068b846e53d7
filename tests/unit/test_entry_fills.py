"""An entry whose fill the user stream reports before the REST answer is protected at once, once.

The engine is wired as a session wires it (real SQLite journal, the in-process simulator, execution,
monitor) with the session's event pump running over the simulator's event stream. Only Binance's side
is doubled: `LateAnswers` fills the entry on the simulator at once (so the stream reports it) and holds
the HTTP answer back until the test releases it, or then fails it as a timeout would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from gateway_double import ForwardingGateway

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.errors import ExchangeError, RetryableExchangeError
from quantum_trader.domain.events import (
    Direction,
    ErrorEvent,
    OrderChanged,
    OrderIntentRecorded,
    OrderRejectedEvent,
    Signal,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.runtime.pump import pump_forever
from quantum_trader.runtime.wiring import Engine, TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig

SYMBOL = "ETHUSDT"
NOW = 1_800_000_000_000
ENTRY = "qt-ETHUSDT_1_1-entry-0"


class LateAnswers(ForwardingGateway):
    """A slow POST /fapi/v1/order: the matching engine fills the entry at once, the answer waits for `release`."""

    def __init__(self, exchange: InProcessExchange, fail: ExchangeError | None = None) -> None:
        super().__init__(exchange)
        self.fail = fail
        self.release = asyncio.Event()

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        answer = await self.exchange.place(intent)
        if intent.type is OrderType.MARKET and not intent.reduce_only:
            await self.release.wait()
            if self.fail is not None:
                raise self.fail
        return answer


class Seen:
    def __init__(self, engine: Engine) -> None:
        self.events: list[object] = []
        for kind in (TradeOpened, OrderChanged, OrderIntentRecorded, OrderRejectedEvent, ErrorEvent):
            engine.bus.subscribe(kind, self.events.append)

    def of(self, kind: type) -> list[object]:
        return [e for e in self.events if isinstance(e, kind)]


def working_protection(sim: ExchangeSimulator) -> list[str]:
    return sorted(o.order_type.value for o in sim.open_algo_orders(SYMBOL))


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)
    return True


async def scenario(url: str, *, fail: ExchangeError | None = None,
                   hold: bool = True) -> tuple[ExchangeSimulator, Seen, list[str]]:
    """Force an entry; `hold`: answer it only after the protection is seen on the exchange (else at once)."""
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    sim.set_prices({SYMBOL: "3000"})
    exchange = InProcessExchange(sim, poll_interval=0.002)
    gateway = LateAnswers(exchange, fail)
    if not hold:
        gateway.release.set()
    clock = SimulatedClock(NOW)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal,
                             gateway=gateway)
        protect_engine(engine, Metrics(), MonitorConfig(interval_s=1.0))
        seen = Seen(engine)
        pump = asyncio.create_task(pump_forever(engine.bus, clock, exchange))
        await asyncio.sleep(0)  # the pump subscribes before the entry is sent
        entry = asyncio.create_task(engine.bus.publish(Signal(
            symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force", time_ms=NOW, reason="test")))
        before_answer: list[str] = []
        if hold:
            await until(lambda: len(working_protection(sim)) == 2)
            before_answer = working_protection(sim)
            assert not entry.done()
            gateway.release.set()
        await entry
        await asyncio.sleep(0.05)  # whatever the stream still had to say
        await exchange.close()
        await pump
    return sim, seen, before_answer


def check_one_protected_trade(sim: ExchangeSimulator, seen: Seen) -> None:
    position = sim.position(SYMBOL)
    assert position.amount > 0
    opened = seen.of(TradeOpened)
    assert len(opened) == 1
    trade = opened[0]
    assert isinstance(trade, TradeOpened)
    assert (trade.quantity, trade.entry_price) == (position.amount, position.entry_price)
    assert working_protection(sim) == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
    intents = sorted(e.intent.client_id for e in seen.of(OrderIntentRecorded) if isinstance(e, OrderIntentRecorded))
    assert intents == [ENTRY, "qt-ETHUSDT_1_1-sl-0", "qt-ETHUSDT_1_1-tp-0"]  # one of each: nothing placed twice
    assert seen.of(OrderRejectedEvent) == [] and seen.of(ErrorEvent) == []


def test_a_fill_heard_before_the_answer_is_protected_before_the_answer(tmp_path: Path) -> None:
    sim, seen, before_answer = asyncio.run(scenario(f"sqlite:///{tmp_path / 'j.db'}"))
    assert before_answer == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
    check_one_protected_trade(sim, seen)
    placed = [e for e in seen.of(OrderChanged) if isinstance(e, OrderChanged) and e.reason == "PLACED"
              and e.snapshot.client_id == ENTRY]
    assert len(placed) == 1 and placed[0].snapshot.status is SnapshotStatus.FILLED  # the answer still journaled
    opened = seen.of(TradeOpened)[0]
    assert isinstance(opened, TradeOpened)
    triggers = {o.order_type.value: o.trigger_price for o in sim.open_algo_orders(SYMBOL)}
    assert opened.planned_stop == triggers["STOP_MARKET"]
    assert opened.planned_take_profit == triggers["TAKE_PROFIT_MARKET"]


def test_an_answer_that_fails_after_the_fill_was_heard_still_opens_the_trade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    timeout = RetryableExchangeError(-1007, "Timeout waiting for response from backend server.", 408)
    sim, seen, _ = asyncio.run(scenario(url, fail=timeout))
    check_one_protected_trade(sim, seen)
    reader = JournalReader(url)
    try:
        trades = reader.trades(10)
        amount = sim.position(SYMBOL).amount
        assert [(t["trade_id"], Decimal(t["quantity"])) for t in trades] == [("ETHUSDT_1_1", amount)]
        entry = next(o for o in reader.orders(10) if o["client_id"] == ENTRY)
        assert entry["status"] == "FILLED"  # not REJECTED: the position is real
    finally:
        reader.close()


def test_an_answer_before_the_stream_report_is_the_only_path(tmp_path: Path) -> None:
    """The normal case: the answer comes first; the stream's later FILLED starts nothing."""
    sim, seen, _ = asyncio.run(scenario(f"sqlite:///{tmp_path / 'j.db'}", hold=False))
    check_one_protected_trade(sim, seen)
