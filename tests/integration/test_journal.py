"""The journal against real databases: a SQLite file in tmp_path, and a throwaway PostgreSQL cluster.

Events are published on a real EventBus and read back through JournalReader, so every test covers
the codec, the statements, the schema and the queries together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from journal_pg import pg_cluster, pg_url  # noqa: F401  (fixtures)
from sqlalchemy import create_engine, inspect, text

from quantum_trader.core.bus import EventBus
from quantum_trader.domain import events as ev
from quantum_trader.domain.enums import MarginType, OrderType, Side, WorkingType
from quantum_trader.domain.errors import JournalWriteError
from quantum_trader.domain.events import Direction, ExitReason
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot, SnapshotStatus
from quantum_trader.journal import Journal, JournalReader, create_engine_for, migrate, normalise_url
from quantum_trader.journal.models import Base

TINY = Decimal("0.00000001")
HUGE = Decimal("123456789.12345678")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'journal.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def journal(sqlite_url: str) -> Iterator[Journal]:
    with Journal.open(sqlite_url) as opened:
        yield opened


def publish(journal: Journal, *events: object) -> None:
    """Events as a session delivers them: intents through execution's explicit write-ahead call."""
    bus = EventBus()
    journal.attach(bus)

    async def run() -> None:
        for event in events:
            if isinstance(event, ev.OrderIntentRecorded):
                journal.record_intent(event)
            await bus.publish(event)
    asyncio.run(run())


def intent(client_id: str = "t1-entry-0", **overrides: object) -> OrderIntent:
    fields: dict[str, object] = {"client_id": client_id, "symbol": "BTCUSDT", "side": Side.BUY,
                                 "type": OrderType.MARKET, "quantity": TINY}
    fields.update(overrides)
    return OrderIntent(**fields)  # type: ignore[arg-type]


def snapshot(client_id: str, status: SnapshotStatus, filled: Decimal, avg: Decimal) -> OrderSnapshot:
    return OrderSnapshot(client_id=client_id, venue_id="987654321", symbol="BTCUSDT", side=Side.BUY,
                         type=OrderType.MARKET, status=status, conditional=False, quantity=TINY, filled=filled,
                         avg_price=avg, trigger_price=None, price=None, reduce_only=False, close_position=False,
                         working_type=WorkingType.CONTRACT_PRICE, update_time=1_000)


SIGNAL = ev.Signal(symbol="BTCUSDT", direction=Direction.LONG, confidence=0.8125, source="ai-scanner",
                   time_ms=1_000, reference_price=HUGE, reason="breakout", expected_value=0.0125,
                   model_version="dfa81e5580b3", reasons=(("rsi_14", 0.25), ("ret_60", -0.125)))
DECISION = ev.RiskDecision(signal=SIGNAL, approved=True, reason="ok", time_ms=1_001, trade_id="t1", quantity=TINY,
                           planned_stop=Decimal("120987654.00000001"), planned_take_profit=HUGE * 2,
                           planned_loss=Decimal("1.5"), leverage=5)
OPENED = ev.TradeOpened(trade_id="t1", symbol="BTCUSDT", direction=Direction.LONG, quantity=TINY, entry_price=HUGE,
                        planned_stop=Decimal("120987654.00000001"), planned_take_profit=HUGE * 2,
                        planned_loss=Decimal("1.5"), leverage=5, equity=Decimal("10000.00"), time_ms=1_010,
                        confidence=0.8125)
CLOSED = ev.TradeClosed(trade_id="t1", symbol="BTCUSDT", direction=Direction.LONG, quantity=TINY, entry_price=HUGE,
                        exit_price=Decimal("120987653.99999999"), exit_reason=ExitReason.STOP_LOSS,
                        realized_pnl=Decimal("-0.02469135"), fees=TINY, funding=Decimal("-0.00000002"),
                        planned_stop=Decimal("120987654.00000001"), planned_loss=Decimal("1.5"), leverage=5,
                        equity_at_entry=Decimal("10000.00"), opened_ms=1_010, time_ms=2_000)


def every_event() -> list[object]:
    """One of each non-market event type, in the order a trade's life publishes them."""
    sl = intent("t1-sl-0", side=Side.SELL, type=OrderType.STOP_MARKET, quantity=None, trigger_price=Decimal("1.1"),
                close_position=True, working_type=WorkingType.MARK_PRICE)
    position = PositionSnapshot(symbol="BTCUSDT", amount=TINY, entry=HUGE, mark=HUGE, unrealized=Decimal("0"),
                                leverage=5, margin_type=MarginType.ISOLATED, liquidation_price=None)
    return [
        SIGNAL, DECISION,
        ev.OrderIntentRecorded(intent=intent(), trade_id="t1", purpose="entry", time_ms=1_003),
        ev.OrderChanged(snapshot=snapshot("t1-entry-0", SnapshotStatus.FILLED, TINY, HUGE), reason="TRADE",
                        time_ms=1_004),
        ev.FillEvent(fill_id="f1", symbol="BTCUSDT", client_id="t1-entry-0", side=Side.BUY, quantity=TINY,
                     price=HUGE, fee=TINY, realized_pnl=Decimal("0"), time_ms=1_004),
        ev.PositionChanged(snapshot=position, reason="ORDER", time_ms=1_005),
        OPENED,
        ev.OrderIntentRecorded(intent=sl, trade_id="t1", purpose="sl", time_ms=1_011),
        ev.OrderRejectedEvent(intent=sl, trade_id="t1", purpose="sl", code=-2021, message="Order would immediately "
                              "trigger.", time_ms=1_012),
        ev.ProtectionAction(symbol="BTCUSDT", action="emergency_exit", reason="-2021", time_ms=1_013, trade_id="t1",
                            client_id="t1-exit-0", order_type="MARKET", price=HUGE),
        ev.EquitySnapshot(wallet=HUGE, equity=HUGE + TINY, available=TINY, open_positions=1, time_ms=1_014),
        ev.KillSwitch(reason="daily loss", time_ms=1_015),
        ev.ErrorEvent(component="monitor", message="boom", time_ms=1_016, fatal=True, details={"k": "v"}),
        CLOSED,
    ]


def test_migrate_twice_is_idempotent(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)
    engine = create_engine_for(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            assert versions == ["0005_session_account"]
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_schema_matches_models(db_url: str) -> None:
    migrate(db_url)
    engine = create_engine_for(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_every_event_round_trips(db_url: str) -> None:
    with Journal.open(db_url) as journal:
        session = journal.start_session("paper", '{"symbols": 3}', "0.1.0", started_ms=999)
        publish(journal, *every_event())
    reader = JournalReader(db_url)
    try:
        assert reader.sessions() == [{"id": session, "started_ms": 999, "mode": "paper",
                                      "settings": '{"symbols": 3}', "version": "0.1.0", "adapter": None,
                                      "exchange_url": None, "clock": None, "speed": None, "account": None}]
        [signal] = reader.signals(10)
        assert signal["reference_price"] == "123456789.12345678" and signal["confidence"] == 0.8125
        assert signal["session_id"] == session and signal["direction"] == "long"
        assert (signal["expected_value"], signal["model_version"]) == (0.0125, "dfa81e5580b3")
        assert json.loads(signal["reasons"]) == [["rsi_14", 0.25], ["ret_60", -0.125]]
        assert signal["decision"]["approved"] is True and signal["decision"]["quantity"] == "0.00000001"
        assert signal["decision"]["planned_take_profit"] == "246913578.24691356"
        orders = {o["client_id"]: o for o in reader.orders(10)}
        entry = orders["t1-entry-0"]
        assert (entry["status"], entry["filled"], entry["avg_price"]) == ("FILLED", "0.00000001", "123456789.12345678")
        assert (entry["trade_id"], entry["purpose"], entry["venue_id"]) == ("t1", "entry", "987654321")
        sl = orders["t1-sl-0"]
        assert (sl["status"], sl["reject_code"], sl["quantity"]) == ("REJECTED", -2021, None)
        assert sl["close_position"] is True and sl["working_type"] == "MARK_PRICE" and sl["trigger_price"] == "1.1"
        statuses = [e["status"] for e in reader.order_events("t1-entry-0")]
        assert statuses == ["INTENT", "FILLED"]
        [fill] = reader.fills(10)
        assert (fill["fill_id"], fill["quantity"], fill["price"], fill["fee"]) == ("f1", "0.00000001",
                                                                                  "123456789.12345678", "0.00000001")
        [trade] = reader.trades(10)
        assert trade == {**trade, "status": "closed", "entry": "123456789.12345678", "exit_reason": "stop_loss",
                         "planned_take_profit": "246913578.24691356", "realized_pnl": "-0.02469135",
                         "funding": "-0.00000002", "closed_ms": 2_000, "opened_ms": 1_010, "confidence": 0.8125}
        assert reader.closed_positions() == [{k: v for k, v in trade.items() if k != "status"}]
        assert reader.open_trades() == []
        actions = reader.protection_actions(10)
        assert [a["action"] for a in actions] == ["kill_switch", "emergency_exit"]
        assert actions[1]["price"] == "123456789.12345678"
        [equity] = reader.equity(10)
        assert (equity["equity"], equity["available"]) == ("123456789.12345679", "0.00000001")
        [error] = reader.errors(10)
        assert (error["component"], error["fatal"], error["details"]) == ("monitor", True, '{"k": "v"}')
        assert reader.pending_intents() == []
        [position] = reader.position_changes(10)
        assert (position["amount"], position["margin_type"], position["liquidation_price"]) == (
            "0.00000001", "ISOLATED", None)
    finally:
        reader.close()


def test_instrument_filters_keep_the_latest(db_url: str) -> None:
    with Journal.open(db_url, batch_size=5) as journal:
        journal.record_instrument("BTCUSDT", '{"tick": "0.1"}', 1)
        journal.record_instrument("BTCUSDT", '{"tick": "0.10"}', 2)
        journal.record_instrument("ETHUSDT", '{"tick": "0.01"}', 2)
    reader = JournalReader(db_url)
    try:
        assert reader.instruments() == [{"symbol": "BTCUSDT", "filters": '{"tick": "0.10"}', "updated_ms": 2},
                                        {"symbol": "ETHUSDT", "filters": '{"tick": "0.01"}', "updated_ms": 2}]
    finally:
        reader.close()


def test_decimals_come_back_as_the_same_decimal(db_url: str) -> None:
    with Journal.open(db_url) as journal:
        publish(journal, OPENED)
    reader = JournalReader(db_url)
    try:
        [trade] = reader.open_trades()
        assert Decimal(trade["quantity"]) == TINY and Decimal(trade["entry"]) == HUGE
        assert trade["quantity"] == "0.00000001"
    finally:
        reader.close()


def test_duplicate_fill_id_is_ignored(db_url: str) -> None:
    fill = ev.FillEvent(fill_id="dup", symbol="BTCUSDT", client_id="c1", side=Side.SELL, quantity=Decimal("1"),
                        price=Decimal("10"), fee=Decimal("0.01"), realized_pnl=Decimal("0"), time_ms=5)
    again = ev.FillEvent(fill_id="dup", symbol="BTCUSDT", client_id="c1", side=Side.SELL, quantity=Decimal("9"),
                         price=Decimal("99"), fee=Decimal("0.09"), realized_pnl=Decimal("0"), time_ms=6)
    with Journal.open(db_url) as journal:
        publish(journal, fill, again)
    with Journal.open(db_url, batch_size=10) as journal:
        publish(journal, again, again)
    reader = JournalReader(db_url)
    try:
        [row] = reader.fills(10)
        assert (row["quantity"], row["price"], row["time_ms"]) == ("1", "10", 5)
    finally:
        reader.close()


def test_intent_is_visible_to_another_connection_when_record_intent_returns(journal: Journal,
                                                                             sqlite_url: str) -> None:
    """Write-ahead: what execution sends next, another connection already reads as an intent."""
    other = create_engine(sqlite_url)
    journal.record_intent(ev.OrderIntentRecorded(intent=intent(), trade_id="t1", purpose="entry", time_ms=7))
    with other.connect() as conn:
        seen = conn.execute(text("SELECT status FROM orders WHERE client_id = :c"), {"c": intent().client_id}).scalar()
    other.dispose()
    assert seen == "INTENT"


def test_record_intent_raises_when_the_journal_cannot_write(sqlite_url: str) -> None:
    journal = Journal(sqlite_url, batch_size=1)  # never migrated: the orders table does not exist
    with pytest.raises(JournalWriteError, match="t1-entry-0 was not recorded"):
        journal.record_intent(ev.OrderIntentRecorded(intent=intent(), trade_id="t1", purpose="entry", time_ms=7))
    journal.close()


def test_batched_rows_are_invisible_until_flush(sqlite_url: str) -> None:
    reader = JournalReader(sqlite_url)
    with Journal.open(sqlite_url, batch_size=100) as journal:
        events = [ev.EquitySnapshot(wallet=Decimal(i), equity=Decimal(i), available=Decimal(i), open_positions=0,
                                    time_ms=i) for i in range(99)]
        publish(journal, *events)
        assert reader.equity(1000) == []
        journal.flush()
        rows = reader.equity(1000)
    reader.close()
    assert [r["wallet"] for r in rows] == [str(i) for i in range(99)]


def test_batch_keeps_event_order_within_a_table(sqlite_url: str) -> None:
    """An intent and its status changes in one batch end in the last status, not the intent's."""
    with Journal.open(sqlite_url, batch_size=1000) as journal:
        publish(journal, ev.OrderIntentRecorded(intent=intent(), trade_id="t1", purpose="entry", time_ms=1),
                ev.OrderChanged(snapshot=snapshot("t1-entry-0", SnapshotStatus.OPEN, Decimal(0), Decimal(0)),
                                reason="NEW", time_ms=2),
                ev.OrderChanged(snapshot=snapshot("t1-entry-0", SnapshotStatus.FILLED, TINY, HUGE), reason="TRADE",
                                time_ms=3), OPENED, CLOSED)
    reader = JournalReader(sqlite_url)
    [order] = reader.orders(10)
    [trade] = reader.trades(10)
    reader.close()
    assert (order["status"], order["trade_id"], order["created_ms"], order["updated_ms"]) == ("FILLED", "t1", 1, 3)
    assert trade["status"] == "closed" and trade["planned_take_profit"] == "246913578.24691356"


def test_unanswered_intents_survive_a_crash(sqlite_url: str) -> None:
    """A child process journals intents, gets one answered, and dies without closing anything."""
    migrate(sqlite_url)
    script = textwrap.dedent(f"""
        import asyncio, os
        from decimal import Decimal
        from quantum_trader.core.bus import EventBus
        from quantum_trader.domain import events as ev
        from quantum_trader.domain.enums import OrderType, Side
        from quantum_trader.domain.exchange_types import OrderIntent
        from quantum_trader.journal import Journal
        journal = Journal({sqlite_url!r}, batch_size=1)
        bus = EventBus()
        journal.attach(bus)
        async def run():
            for n in range(3):
                i = OrderIntent(client_id=f"t{{n}}-entry-0", symbol="ETHUSDT", side=Side.SELL,
                                type=OrderType.MARKET, quantity=Decimal("0.001"))
                journal.record_intent(ev.OrderIntentRecorded(intent=i, trade_id=f"t{{n}}", purpose="entry",
                                                             time_ms=n))
                if n == 1:
                    await bus.publish(ev.OrderRejectedEvent(intent=i, trade_id="t1", purpose="entry", code=-2019,
                                                            message="Margin is insufficient.", time_ms=9))
        asyncio.run(run())
        os._exit(17)
    """)
    done = subprocess.run([sys.executable, "-c", script], env={"PYTHONPATH": str(SRC)}, capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 17, done.stderr.decode()
    reader = JournalReader(sqlite_url)
    pending = reader.pending_intents()
    reader.close()
    assert [(p["client_id"], p["quantity"], p["side"]) for p in pending] == [
        ("t0-entry-0", "0.001", "SELL"), ("t2-entry-0", "0.001", "SELL")]


def test_orders_a_dry_run_did_not_send_are_journaled_but_not_pending(journal: Journal, sqlite_url: str) -> None:
    publish(journal, ev.OrderIntentRecorded(intent=intent(), trade_id="t1", purpose="entry", time_ms=1),
            ev.OrderNotSent(intent=intent(), trade_id="t1", purpose="entry", reason="sma-cross signal (staging)",
                            time_ms=1))
    reader = JournalReader(sqlite_url)
    [order] = reader.orders(10)
    assert (order["status"], order["dry_run"], order["reject_msg"]) == ("DRY_RUN", True, "sma-cross signal (staging)")
    assert reader.pending_intents() == []
    reader.close()


def test_open_trades_lists_only_unclosed_positions(journal: Journal, sqlite_url: str) -> None:
    other = ev.TradeOpened(trade_id="t2", symbol="ETHUSDT", direction=Direction.SHORT, quantity=Decimal("2"),
                           entry_price=Decimal("3000"), planned_stop=None, planned_take_profit=None,
                           planned_loss=None, leverage=3, equity=Decimal("1"), time_ms=3_000)
    publish(journal, OPENED, other, CLOSED)
    reader = JournalReader(sqlite_url)
    assert [t["trade_id"] for t in reader.open_trades()] == ["t2"]
    assert [(t["trade_id"], t["status"]) for t in reader.trades(10)] == [("t2", "open"), ("t1", "closed")]
    reader.close()


def test_signal_ids_continue_after_reopen(sqlite_url: str) -> None:
    later = ev.Signal(symbol="ETHUSDT", direction=Direction.SHORT, confidence=0.7, source="sma-cross", time_ms=5_000)
    with Journal.open(sqlite_url) as journal:
        publish(journal, SIGNAL, DECISION)
    with Journal.open(sqlite_url) as journal:
        publish(journal, later)
    reader = JournalReader(sqlite_url)
    signals = reader.signals(10)
    reader.close()
    assert [(s["id"], s["symbol"], s["decision"] is None) for s in signals] == [(2, "ETHUSDT", True),
                                                                                  (1, "BTCUSDT", False)]


def test_sqlite_is_in_wal_mode_and_folder_is_created(sqlite_url: str) -> None:
    migrate(sqlite_url)
    assert Path(sqlite_url.removeprefix("sqlite:///")).exists()
    engine = create_engine_for(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()


def test_urls_are_normalised() -> None:
    assert normalise_url("postgresql://u@127.0.0.1/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@127.0.0.1/db").drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="only sqlite") as caught:
        normalise_url("mysql://u:secret@127.0.0.1/db")
    assert "secret" not in str(caught.value)


def test_a_failed_write_reaches_the_bus_as_an_error(journal: Journal, sqlite_url: str) -> None:
    """A float where money belongs is refused, and the bus records the failure in the errors table."""
    bad = ev.EquitySnapshot(wallet=1.5, equity=Decimal(1), available=Decimal(1), open_positions=0,  # type: ignore[arg-type]
                            time_ms=1)
    publish(journal, bad)
    reader = JournalReader(sqlite_url)
    [error] = reader.errors(10)
    assert reader.equity(10) == []
    reader.close()
    assert "DecimalText takes Decimal" in error["message"]
    assert journal.write_failures == 1


def test_the_kill_switches_since_the_last_resume_of_sessions_that_trade(db_url: str) -> None:
    """What a restart keeps halted (runtime/startup.py `restore_halt`), on both databases: kill switches before
    the last resume are over, and a backtest's (journaled into the same database) never trade an account."""
    migrate(db_url)
    kill = ev.KillSwitch
    for mode, events in [("paper", [kill("manual kill switch", 1)]),
                         ("paper", [ev.ProtectionAction(symbol="*", action="resume", reason="by request", time_ms=2)]),
                         ("backtest", [kill("daily loss limit: old", 3)]),
                         ("live", [kill("manual kill switch", 4),
                                   ev.ProtectionAction(symbol="*", action="kill_switch", time_ms=5,
                                                       reason="manual kill switch: cancelled 0 orders")])]:
        with Journal(db_url) as journal:
            journal.start_session(mode, "{}", "test")
            publish(journal, *events)
    reader = JournalReader(db_url)
    try:
        assert reader.kills_since_resume() == [("manual kill switch", 4),
                                               ("manual kill switch: cancelled 0 orders", 5)]
    finally:
        reader.close()


UNKNOWN_EXIT = ev.TradeClosed(
    trade_id="t2", symbol="ETHUSDT", direction=Direction.SHORT, quantity=Decimal("2"), entry_price=Decimal("3000"),
    exit_price=None, exit_reason=ExitReason.UNKNOWN, realized_pnl=None, fees=Decimal(0), funding=Decimal(0),
    planned_stop=Decimal("3060"), planned_loss=Decimal("120"), leverage=3, equity_at_entry=Decimal("10000"),
    opened_ms=3_000, time_ms=3_000)
BLANKS = dict.fromkeys(("exit_price", "realized_pnl", "fees", "funding", "closed_ms"))


def test_an_unknown_exit_is_journaled_closed_with_nothing_claimed(db_url: str) -> None:
    """Closed while the bot was away, no exchange record: no exit price, P&L, fees or closing time in the row
    (not the entry price, zeros and the time the bot found it), yet closed: never reconciled twice."""
    other = ev.TradeOpened(trade_id="t2", symbol="ETHUSDT", direction=Direction.SHORT, quantity=Decimal("2"),
                           entry_price=Decimal("3000"), planned_stop=Decimal("3060"), planned_take_profit=None,
                           planned_loss=Decimal("120"), leverage=3, equity=Decimal("10000"), time_ms=3_000)
    with Journal.open(db_url) as journal:
        publish(journal, OPENED, other, UNKNOWN_EXIT, CLOSED)
    reader = JournalReader(db_url)
    try:
        assert reader.open_trades() == []
        [unknown] = [t for t in reader.trades(10) if t["trade_id"] == "t2"]
        assert (unknown["status"], unknown["exit_reason"]) == ("closed", "unknown")
        assert {k: unknown[k] for k in BLANKS} == BLANKS
        assert [t["trade_id"] for t in reader.closed_positions()] == ["t1", "t2"]  # unknown: at its opening
    finally:
        reader.close()
    with Journal.open(db_url) as journal:  # a second close of it is refused like any other
        errors: list[ev.ErrorEvent] = []
        bus = EventBus()
        journal.attach(bus)
        bus.subscribe(ev.ErrorEvent, errors.append)
        asyncio.run(bus.publish(dataclasses.replace(UNKNOWN_EXIT, exit_price=Decimal(1), realized_pnl=Decimal(1))))
    assert len(errors) == 1 and "already closed" in errors[0].message


def test_an_unknown_exit_journaled_with_stand_ins_reads_as_unknown(sqlite_url: str) -> None:
    """A journal written before: the entry price as exit price, zeros, the opening time as closing time. Those
    are read as unknown; an unknown reason with real figures (fills of an unnamed order) keeps them."""
    legacy = dataclasses.replace(UNKNOWN_EXIT, exit_price=Decimal("3000"), realized_pnl=Decimal(0))
    found = dataclasses.replace(UNKNOWN_EXIT, trade_id="t3", exit_price=Decimal("3010"), realized_pnl=Decimal(-20),
                                fees=Decimal("1.5"), time_ms=4_000)
    with Journal.open(sqlite_url) as journal:
        publish(journal, legacy, found)
    reader = JournalReader(sqlite_url)
    try:
        rows = {t["trade_id"]: t for t in reader.closed_positions()}
        assert {k: rows["t2"][k] for k in BLANKS} == BLANKS
        assert (rows["t3"]["exit_price"], rows["t3"]["realized_pnl"], rows["t3"]["closed_ms"]) == ("3010", "-20", 4_000)
        assert {k: reader.trades(10)[1][k] for k in BLANKS} == BLANKS
    finally:
        reader.close()


def test_a_stop_that_filled_stays_filled(db_url: str) -> None:
    """The algo stop's own last update (FINISHED, reported TRIGGERED) arrives after its spawned order's fill,
    which carries the stop's client id: the row said TRIGGERED for every stop-loss that filled."""
    migrate(db_url)
    stop = dataclasses.replace(snapshot("t1-sl-0", SnapshotStatus.FILLED, TINY, HUGE), type=OrderType.STOP_MARKET,
                               conditional=True)
    with Journal(db_url) as journal:
        journal.start_session("paper", "{}", "test")
        publish(journal, ev.OrderChanged(snapshot=dataclasses.replace(stop, status=SnapshotStatus.TRIGGERED),
                                         reason="TRIGGERED", time_ms=1),
                ev.OrderChanged(snapshot=stop, reason="TRADE", time_ms=2),
                ev.OrderChanged(snapshot=dataclasses.replace(stop, status=SnapshotStatus.TRIGGERED),
                                reason="FINISHED", time_ms=3))
    reader = JournalReader(db_url)
    try:
        [order] = reader.orders(10)
        assert (order["status"], Decimal(order["filled"]), order["updated_ms"]) == ("FILLED", TINY, 3)
    finally:
        reader.close()


def test_prices_on_a_tick_with_a_trailing_zero_read_back_without_it(sqlite_url: str) -> None:
    """A user trial: BNBUSDT's tick is `0.010`, so a stop rounded onto it is Decimal('672.150'), and the journal
    gave it back as `672.150` (the dashboard's trades, the activity panel, `audit`) beside `672.15` where the same
    stop came from the exchange. The reader now writes every Decimal as the rest do (`fmt`): the same number."""
    stop, take = Decimal("672.150"), Decimal("700.000")
    opened = dataclasses.replace(OPENED, symbol="BNBUSDT", entry_price=Decimal("685.870"), planned_stop=stop,
                                 planned_take_profit=take, equity=Decimal("10000.00"))
    action = ev.ProtectionAction(symbol="BNBUSDT", action="placed", reason="sl after entry fill", time_ms=1_011,
                                 trade_id="t1", client_id="t1-sl-0", order_type="STOP_MARKET", price=stop)
    with Journal.open(sqlite_url) as journal:
        publish(journal, opened, action)
    reader = JournalReader(sqlite_url)
    try:
        [trade] = reader.trades(10)
        assert (trade["entry"], trade["planned_stop"], trade["planned_take_profit"]) == ("685.87", "672.15", "700")
        assert [a["price"] for a in reader.protection_actions(10)] == ["672.15"]
        assert Decimal(trade["planned_stop"]) == stop  # the same number: only the zeros a reader trips on are gone
    finally:
        reader.close()
