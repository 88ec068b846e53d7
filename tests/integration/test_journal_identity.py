"""The journal refuses, never merges, a second trade or entry under an id it already holds (real SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.core.bus import EventBus
from quantum_trader.domain import events as ev
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.errors import JournalWriteError
from quantum_trader.domain.events import Direction, ExitReason
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.journal.identity import JournalConflict

OPENED = ev.TradeOpened(trade_id="BNBUSDT_1_1", symbol="BNBUSDT", direction=Direction.SHORT, quantity=Decimal("1.15"),
                        entry_price=Decimal("896.80"), planned_stop=Decimal("914.74"),
                        planned_take_profit=Decimal("860.9"), planned_loss=Decimal("20.6"), leverage=10,
                        equity=Decimal("10000"), time_ms=1_000)
CLOSED = ev.TradeClosed(trade_id="BNBUSDT_1_1", symbol="BNBUSDT", direction=Direction.SHORT, quantity=Decimal("1.15"),
                        entry_price=Decimal("896.80"), exit_price=Decimal("920.07"), exit_reason=ExitReason.STOP_LOSS,
                        realized_pnl=Decimal("-26.7605"), fees=Decimal("0.93"), funding=Decimal(0),
                        planned_stop=Decimal("914.74"), planned_loss=Decimal("20.6"), leverage=10,
                        equity_at_entry=Decimal("10000"), opened_ms=1_000, time_ms=5_000)


def entry(trade_id: str = "BNBUSDT_1_1", quantity: str = "1.15") -> ev.OrderIntentRecorded:
    intent = OrderIntent(client_id=f"qt-{trade_id}-entry-0", symbol="BNBUSDT", side=Side.SELL, type=OrderType.MARKET,
                         quantity=Decimal(quantity))
    return ev.OrderIntentRecorded(intent=intent, trade_id=trade_id, purpose="entry", time_ms=900)


def publish(journal: Journal, *events: object) -> list[ev.ErrorEvent]:
    bus, errors = EventBus(), []
    journal.attach(bus)
    bus.subscribe(ev.ErrorEvent, errors.append)

    async def run() -> None:
        for event in events:
            await bus.publish(event)
    asyncio.run(run())
    return errors


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journal.db'}"


def test_a_second_open_under_a_trade_id_is_refused_and_recorded_as_an_error(url: str) -> None:
    with Journal.open(url) as journal:
        second = dataclasses.replace(OPENED, direction=Direction.LONG, entry_price=Decimal("901"), time_ms=1_500)
        errors = publish(journal, OPENED, second)
    assert [e.message.split(":")[0] for e in errors] == ["JournalConflict"]
    assert "BNBUSDT_1_1" in errors[0].message and "refused" in errors[0].message
    reader = JournalReader(url)
    [row] = reader.open_trades()
    assert (row["direction"], Decimal(row["entry"]), row["opened_ms"]) == ("short", Decimal("896.80"), 1_000)
    assert [e["message"] for e in reader.errors(10)] == [errors[0].message]
    reader.close()


def test_a_second_close_never_overwrites_the_first_exit(url: str) -> None:
    with Journal.open(url) as journal:
        again = dataclasses.replace(CLOSED, exit_reason=ExitReason.KILL_SWITCH, exit_price=Decimal("1"), time_ms=9_000)
        errors = publish(journal, OPENED, CLOSED, again)
    assert len(errors) == 1 and "already closed" in errors[0].message
    reader = JournalReader(url)
    [row] = reader.trades(10)
    assert (row["exit_reason"], Decimal(row["exit_price"]), row["closed_ms"]) == ("stop_loss", Decimal("920.07"), 5_000)
    reader.close()


def test_the_journal_remembers_its_trades_across_writers(url: str) -> None:
    """A restart opens a new writer: it learns what the database holds before it writes."""
    with Journal.open(url) as journal:
        assert publish(journal, OPENED) == []
    with Journal.open(url) as journal:
        errors = publish(journal, OPENED)
        with pytest.raises(JournalConflict, match="already has an entry order"):
            journal.record_intent(entry())
    assert len(errors) == 1


def test_a_second_entry_intent_under_one_client_id_is_refused_and_its_rejection_leaves_the_first(url: str) -> None:
    with Journal.open(url) as journal:
        journal.record_intent(entry())
        with pytest.raises(JournalWriteError, match="a second entry under it is refused"):
            journal.record_intent(entry(quantity="2.0"))
        refused = entry(quantity="2.0")
        publish(journal, ev.OrderRejectedEvent(intent=refused.intent, trade_id=refused.trade_id, purpose="entry",
                                               code=None, message="not sent: journal conflict", time_ms=950))
    reader = JournalReader(url)
    [order] = reader.orders(10)
    assert (order["status"], Decimal(order["quantity"])) == ("INTENT", Decimal("1.15"))
    reader.close()


def test_protection_intents_of_one_trade_are_recorded_as_before(url: str) -> None:
    """Only entries are one per client id: a stop's retries (same purpose, new attempt) are normal life."""
    with Journal.open(url) as journal:
        journal.record_intent(entry())
        for attempt in range(2):
            stop = OrderIntent(client_id=f"qt-BNBUSDT_1_1-sl-{attempt}", symbol="BNBUSDT", side=Side.BUY,
                               type=OrderType.STOP_MARKET, trigger_price=Decimal("914.74"), close_position=True)
            journal.record_intent(ev.OrderIntentRecorded(intent=stop, trade_id="BNBUSDT_1_1", purpose="sl",
                                                         time_ms=901 + attempt))
    reader = JournalReader(url)
    assert len(reader.orders(10)) == 3
    reader.close()


def test_the_ids_a_tag_already_used_are_found_wherever_they_appear(url: str) -> None:
    with Journal.open(url) as journal:
        journal.record_intent(entry("ETHUSDT_4_9"))
        publish(journal, OPENED, dataclasses.replace(OPENED, trade_id="BNBUSDT_41_2"))
        assert journal.trade_ids_tagged("1") == {"BNBUSDT_1_1"}
        assert journal.trade_ids_tagged("4") == {"ETHUSDT_4_9"}
        assert journal.trade_ids_tagged("z") == set()
