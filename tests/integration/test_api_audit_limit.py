"""The running bot's stop audit: `limit` keeps the newest closed positions only, while `summary`, `breaches` and
`count` still speak of all of them (the dashboard asks for its 50 rows: the whole list was 1 MB at 1,671)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from test_kill_switch_keeps_stops import Bot

from quantum_trader.core.metrics import Metrics
from quantum_trader.feeds.market_feed import FeedStatus
from quantum_trader.journal.db import migrate
from quantum_trader.journal.reader import JournalReader
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.app_service import SessionService
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.settings.model import load_settings
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe


def journal_with_closed_positions(url: str) -> None:
    universe = load_universe()
    instruments = {"BNBUSDT": universe.instrument("BNBUSDT")}
    chunks = synthetic_bars(["BNBUSDT"], [600.0], 20_000, seed=3, chunk_bars=5_000, vol=0.0007, jump_prob=0.0002)
    journal = Journal(url, batch_size=500)
    journal.start_session("backtest", "{}", "test")
    asyncio.run(run_backtest(chunks, instruments, SmaCross(10, 30), TradingRules(cooldown_s=0.0),
                             balance=Decimal(10_000), journal=journal))
    journal.close()


def test_limit_keeps_the_newest_positions_and_the_summary_counts_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    migrate(url)
    journal_with_closed_positions(url)
    bot = Bot()
    service = SessionService(load_settings({}, env={}), bot.engine, bot.monitor, bot.handler, JournalReader(url),
                             Metrics(), FeedStatus("synthetic"))

    async def both() -> tuple[dict[str, object], dict[str, object]]:
        return await service.audit(), await service.audit(3)

    whole, newest = asyncio.run(both())
    everything = whole["positions"]
    assert isinstance(everything, list) and len(everything) > 3
    assert whole["count"] == newest["count"] == len(everything)
    assert newest["positions"] == everything[-3:]
    assert newest["summary"] == whole["summary"] and newest["breaches"] == whole["breaches"]
