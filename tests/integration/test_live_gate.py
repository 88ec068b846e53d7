"""The go-live gate: a journal that passes readiness lets live mode start; anything short of it does not.

The journal is built in-process through the real writer and bus (the same path a paper session
writes through), then read by `readiness_from_journal`; each checklist item is broken on its own to
prove the item can fail. By default the Recipe journals one paper session on the live path (the ccxt
adapter against a simulator server URL, on the wall clock, whose wall time is the events' time);
`path` and `wall_factor` journal other paths (test_readiness_live_path.py). Each session journals its settings
as `quantum-trader run` does (PAPER_SETUP plus the Recipe's `settings`), and readiness is asked for a start with
that setup unless a test says otherwise (test_readiness_honest.py). Then the real console
script is started in live mode against a real simulator server: with the passing journal it runs
(exit 0, /health says `live`); with a fresh one it exits 3 naming the failed items. Staging against the
same server journals dry-run orders and leaves the simulator flat.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_run_session import BIN, bot_env, free_port, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, running_server

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.events import (
    FORCED,
    Direction,
    EquitySnapshot,
    ErrorEvent,
    ExitReason,
    OrderRejectedEvent,
    ProtectionAction,
    RiskDecision,
    Signal,
    TradeClosed,
    TradeOpened,
)
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.journal.db import migrate
from quantum_trader.journal.reader import JournalReader
from quantum_trader.journal.writer import Journal
from quantum_trader.readmodels.journal import readiness_from_journal
from quantum_trader.settings.model import Settings, load_settings

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC: the paper session's start
MINUTE = 60_000
HOUR = 3_600_000
#: How `quantum-trader run` journals a paper session against `sim-server` with the exchange feed
#: (readmodels/evidence.py).
LIVE_PATH: dict[str, str | None] = {"adapter": "ccxt", "exchange_url": "http://127.0.0.1:8090", "clock": "wall",
                                    "speed": "1"}
#: ... and one on the in-process simulator at `--speed max`.
INPROCESS_MAX: dict[str, str | None] = {"adapter": "inprocess", "exchange_url": None, "clock": "simulated",
                                        "speed": "max"}
#: The setup the Recipe's paper sessions trade (the defaults but the strategy, whose name its signals carry); a
#: start with it has the same setup (readmodels/setup.py). The console script reads it from the environment.
PAPER_SETUP: dict[str, Any] = {"strategy": "sma-cross", "monitor_interval": 1.0}
PAPER_ENV = {"QT_STRATEGY": "sma-cross"}


def start_settings(**overrides: Any) -> Settings:
    """The settings of a start readiness is asked for: the Recipe's setup unless `overrides` say otherwise."""
    return load_settings({**PAPER_SETUP, **overrides}, env={})


@dataclass
class Recipe:
    """What the paper journal holds; the defaults pass every checklist item."""

    trades: int = 5
    stop_losses: int = 1
    ack_delay_ms: int = 2_000
    breach: bool = False
    equity_span_ms: int = 2 * HOUR
    error_at_ms: int | None = None
    traded_confidence: float = 0.8
    rejected_unreplaced: bool = False
    extra: list[Any] = field(default_factory=list)
    #: The session's path as `Journal.start_session` records it (None: not recorded, as before migration 0002).
    path: dict[str, str | None] | None = field(default_factory=lambda: dict(LIVE_PATH))
    #: Wall-clock ms per ms of session time: 1 on the wall clock; `--speed max` passes hours in seconds.
    wall_factor: float = 1.0
    #: The monitor's heartbeat (an equity snapshot per minute of session time, as trading/monitor.py journals).
    heartbeat_ms: int = MINUTE
    #: Heartbeats missing in [start, end) of session time (the monitor silent).
    silent: tuple[int, int] | None = None
    mode: str = "paper"
    #: When the session starts (session time; on the wall clock too when `wall_factor` is 1).
    start_ms: int = T0
    #: How many of the trades (the first ones) are forced entries (`force-entry`: source `force`, confidence 1).
    forced: int = 0
    #: The session's settings beyond PAPER_SETUP, journaled as `quantum-trader run` journals them.
    settings: dict[str, Any] = field(default_factory=dict)


def _trade_events(n: int, recipe: Recipe) -> list[Any]:
    """Signal, approved decision, open, SL+TP verified, close: one paper trade of 1 BNB at 600."""
    opened = recipe.start_ms + (n + 1) * 10 * MINUTE
    trade_id = f"BNBUSDT_{opened}"
    stop = n < recipe.stop_losses
    forced = n < recipe.forced
    confidence = 1.0 if forced else recipe.traded_confidence
    signal = Signal("BNBUSDT", Direction.LONG, confidence, FORCED if forced else "sma-cross", opened - 1_000,
                    reference_price=Decimal("600"), reason="force-entry" if forced else "")
    qty, entry = Decimal("1"), Decimal("600")
    exit_price = Decimal("594") if stop else Decimal("612")
    if stop and recipe.breach:
        exit_price = Decimal("540")  # 60 USDT lost against a planned 6.5: far beyond the tolerance
    pnl = (exit_price - entry) * qty
    common: dict[str, Any] = {"trade_id": trade_id, "symbol": "BNBUSDT", "direction": Direction.LONG, "quantity": qty,
              "entry_price": entry, "planned_stop": Decimal("594"), "planned_loss": Decimal("6.5"), "leverage": 5}
    return [
        signal,
        RiskDecision(signal, True, "approved", opened - 900, trade_id=trade_id, quantity=qty,
                     planned_stop=Decimal("594"), planned_take_profit=Decimal("612"), planned_loss=Decimal("6.5"),
                     leverage=5),
        TradeOpened(**common, planned_take_profit=Decimal("612"), equity=Decimal("10000"), time_ms=opened,
                    confidence=confidence),
        ProtectionAction("BNBUSDT", "verified", "read back", opened + recipe.ack_delay_ms, trade_id=trade_id,
                         client_id=f"sl-{n}", order_type="STOP_MARKET", price=Decimal("594")),
        ProtectionAction("BNBUSDT", "verified", "read back", opened + recipe.ack_delay_ms, trade_id=trade_id,
                         client_id=f"tp-{n}", order_type="TAKE_PROFIT_MARKET", price=Decimal("612")),
        TradeClosed(**common, exit_price=exit_price, exit_reason=ExitReason.STOP_LOSS if stop else
                    ExitReason.TAKE_PROFIT, realized_pnl=pnl, fees=Decimal("0.5"), funding=Decimal(0),
                    equity_at_entry=Decimal("10000"), opened_ms=opened, time_ms=opened + 5 * MINUTE),
    ]


def _events(recipe: Recipe) -> list[Any]:
    events: list[Any] = []
    for n in range(recipe.trades):
        events += _trade_events(n, recipe)
    # A low-confidence signal risk refused never traded: the confidence item must not count it.
    events.append(Signal("BTCUSDT", Direction.SHORT, 0.3, "sma-cross", recipe.start_ms + 1_000))
    events.append(RiskDecision(events[-1], False, "confidence below minimum", recipe.start_ms + 1_001))
    if recipe.rejected_unreplaced:
        intent = OrderIntent(client_id="qt-sl-ghost", symbol="BNBUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                             trigger_price=Decimal("590"), close_position=True)
        events.append(OrderRejectedEvent(intent, "BNBUSDT_ghost", "sl", -2021, "would immediately trigger",
                                         recipe.start_ms + 3 * MINUTE))
    if recipe.error_at_ms is not None:
        events.append(ErrorEvent("monitor", "exchange timed out", recipe.start_ms + recipe.error_at_ms))
    for t in range(0, recipe.equity_span_ms + 1, recipe.heartbeat_ms):
        if recipe.silent is None or not recipe.silent[0] <= t < recipe.silent[1]:
            events.append(EquitySnapshot(Decimal("10000"), Decimal("10000"), Decimal("9000"), 0, recipe.start_ms + t))
    return sorted(events + recipe.extra, key=lambda e: e.time_ms)


class EventWall:
    """The wall clock as the session lived it: each event is journaled `wall_factor` times its session time in."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now


async def _publish(url: str, recipe: Recipe) -> None:
    bus = EventBus()
    start_ms = recipe.start_ms
    wall = EventWall(start_ms)
    journal = Journal(url, batch_size=1, wall_ms=wall)
    journal.attach(bus)
    settings = load_settings({**PAPER_SETUP, **recipe.settings}, env={})
    journal.start_session(recipe.mode, json.dumps(settings.public_dict(), sort_keys=True), "test",
                          started_ms=start_ms, **(recipe.path or {}))
    try:
        for event in _events(recipe):
            wall.now = start_ms + round((event.time_ms - start_ms) * recipe.wall_factor)
            await bus.publish(event)
    finally:
        journal.close()


def build_journal(path: Path, *recipes: Recipe) -> str:
    """A migrated journal with one session per recipe, in order (default: one passing live-path session);
    the first starts at T0, each next one a day later (so trade ids differ)."""
    url = f"sqlite:///{path}"
    migrate(url)
    for n, recipe in enumerate(recipes or (Recipe(),)):
        asyncio.run(_publish(url, replace(recipe, start_ms=recipe.start_ms + n * 24 * HOUR)))
    return url


def readiness(url: str, live_max_positions: int = 2, **start: Any) -> dict[str, Any]:
    """The checklist for a start with the Recipe's setup (QT_READINESS_MIN_TRADES 5, QT_MIN_CONFIDENCE 0.65) but
    for `start`'s settings."""
    reader = JournalReader(url)
    try:
        return readiness_from_journal(reader, start_settings(live_max_positions=live_max_positions, **start))
    finally:
        reader.close()


def failed_items(result: dict[str, Any]) -> set[str]:
    return {i["name"] for i in result["items"] if not i["passed"]}


# --- the checklist on a built journal ----------------------------------------------------------------------
def test_a_full_paper_journal_passes_every_item(tmp_path: Path) -> None:
    result = readiness(build_journal(tmp_path / "paper.db"))
    assert failed_items(result) == set(), result
    assert result["ready"] is True
    assert len(result["items"]) == 8


@pytest.mark.parametrize(("recipe", "item"), [
    (Recipe(trades=4), "closed_trades"),
    (Recipe(ack_delay_ms=6_000), "protection_acknowledged"),
    (Recipe(rejected_unreplaced=True), "no_rejected_protection"),
    (Recipe(breach=True), "stops_held"),
    (Recipe(stop_losses=0), "stops_held"),
    (Recipe(error_at_ms=10 * MINUTE, equity_span_ms=65 * MINUTE), "monitor_clean"),  # 10 min, then 54 min clean
    (Recipe(equity_span_ms=HOUR - 5 * MINUTE), "monitor_clean"),
    (Recipe(traded_confidence=0.5), "confidence"),
], ids=["four-trades", "late-ack", "rejected-sl", "breach", "no-stop-exit", "error-10min", "short-monitor",
        "low-confidence"])
def test_breaking_one_item_fails_exactly_that_item(tmp_path: Path, recipe: Recipe, item: str) -> None:
    result = readiness(build_journal(tmp_path / "paper.db", recipe))
    assert failed_items(result) == {item}, result
    assert result["ready"] is False


def test_an_error_after_the_clean_hour_does_not_fail_the_monitor(tmp_path: Path) -> None:
    result = readiness(build_journal(tmp_path / "paper.db", Recipe(error_at_ms=HOUR + 10 * MINUTE)))
    assert result["ready"] is True, result


def test_more_than_two_live_positions_fails_the_cap(tmp_path: Path) -> None:
    result = readiness(build_journal(tmp_path / "paper.db"), live_max_positions=3)
    assert failed_items(result) == {"live_position_cap"}


# --- the real process against a real simulator server --------------------------------------------------------
def live_env(tmp_path: Path, server_url: str, db: Path, **extra: str) -> dict[str, str]:
    return bot_env(tmp_path, QT_PAPER_TRADING="false", QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                   QT_EXCHANGE=server_url, QT_FEED="exchange", QT_SYMBOLS="BNBUSDT,BTCUSDT", **PAPER_ENV,
                   QT_DB_URL=f"sqlite:///{db}", QT_API_PORT=str(free_port()), **extra)


def _health(url: str) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = httpx.get(f"{url}/health", timeout=2).json()
        return answer
    except (httpx.TransportError, ValueError):
        return None


def test_live_starts_with_a_passing_journal(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    build_journal(db)
    with running_server() as server:
        env = live_env(tmp_path, server.url, db)
        proc = subprocess.Popen([str(BIN), "run", "--duration", "4"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{env['QT_API_PORT']}"
        modes: set[str] = set()
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                health = _health(url)
                if health is not None:
                    modes.add(str(health.get("mode")))
                time.sleep(0.1)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert modes == {"live"}, (modes, err)
        assert server.sim.position("BNBUSDT").amount == 0  # a flat market: live started, sma-cross saw no cross
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("select mode from sessions order by id")] == ["paper", "live"]


def test_live_refused_with_a_fresh_journal_exits_3_listing_failures(tmp_path: Path) -> None:
    with running_server() as server:
        env = live_env(tmp_path, server.url, tmp_path / "fresh.db")
        done = subprocess.run([str(BIN), "run", "--duration", "4"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert server.sim.position("BNBUSDT").amount == 0
    assert done.returncode == 3, done.stderr
    for item in ("closed_trades", "protection_acknowledged", "stops_held", "monitor_clean"):
        assert f"FAILED {item}" in done.stderr
    for item in ("live_position_cap", "no_rejected_protection"):  # nothing rejected, cap at the default 2
        assert f"FAILED {item}" not in done.stderr
    assert API_SECRET not in done.stderr + done.stdout


def test_live_refused_when_the_live_cap_is_above_two(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    build_journal(db)
    with running_server() as server:
        env = live_env(tmp_path, server.url, db, QT_LIVE_MAX_POSITIONS="3")
        done = subprocess.run([str(BIN), "run", "--duration", "4"], env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 3, done.stderr
    assert "live_position_cap" in done.stderr


def test_live_refused_when_its_setup_is_not_the_one_paper_traded(tmp_path: Path) -> None:
    """A passing 5x sma-cross journal, a live start at 10x that lowers the bars: refused, naming the setup's
    differences and the fix, the bar of trades at the floor of 5 whatever QT_READINESS_MIN_TRADES says."""
    db = tmp_path / "paper.db"
    build_journal(db)
    with running_server() as server:
        env = live_env(tmp_path, server.url, db, QT_LEVERAGE="10", QT_READINESS_MIN_TRADES="1",
                       QT_MIN_CONFIDENCE="0.1")
        done = subprocess.run([str(BIN), "run", "--duration", "4"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert server.sim.position("BNBUSDT").amount == 0
    assert done.returncode == 3, done.stderr
    assert "FAILED same_setup" in done.stderr
    for difference in ("QT_LEVERAGE 10 here, 5 in paper (above paper)",
                       "QT_MIN_CONFIDENCE 0.1 here, 0.65 in paper (below paper)",
                       "paper-trade with these settings, or start live with the paper settings"):
        assert difference in done.stderr
    assert "0 of the 5 closed trades wanted" in done.stderr  # closed_trades: the floor, not this start's 1


def test_staging_against_the_sim_server_sends_nothing(tmp_path: Path) -> None:
    with running_server() as server:
        env = bot_env(tmp_path, STAGING_MODE="true", QT_EXCHANGE=server.url, QT_FEED="exchange", QT_API_KEY=API_KEY,
                      QT_API_SECRET=API_SECRET, QT_SYMBOLS="BNBUSDT,BTCUSDT")
        with running_bot(env) as (_proc, url):
            assert httpx.get(f"{url}/health").json()["mode"] == "staging"
            httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "long"}, timeout=60)
            db = tmp_path / "journal.db"
            wait_for(lambda: _count(db, "select count(*) from orders") > 0)
        assert server.sim.position("BNBUSDT").amount == 0
        assert server.sim.open_algo_orders("BNBUSDT") == []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select dry_run, status from orders").fetchall()
    assert rows and all(dry_run == 1 for dry_run, _ in rows), rows


def _count(db: Path, query: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(query).fetchone()[0])
