"""Funding paid while the bot was stopped belongs to the open trade: a restart reads it back, once.

A running bot hears each funding payment on the user stream and journals it under the trade (action `funding`).
One made while the bot was stopped reached no stream, so the trade's funding, net P&L and audit missed it while
the wallet had paid it. The simulator now lists each payment in its income history as Binance does
(`FUNDING_FEE`, signed, with the symbol), and a restart reads it (`GET /fapi/v1/income`, one request for every
symbol) and counts what the journal lacks, each payment once by its time. On the live path (the real bot,
ccxt against the simulator server on loopback, one SQLite journal) and in paper (the in-process simulator,
whose saved account pays the funding of the downtime when it resumes).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import httpx
from test_restart_unrecorded_trade import restarted
from test_run_session import bot_env, journal_rows, long_with_resting_stop, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, START_PRICES, SYMBOLS, ccxt_client, running_server

from quantum_trader.domain.events import Direction, Signal
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.paper_account import open_paper_account
from quantum_trader.runtime.pump import publish_all
from quantum_trader.settings.model import load_settings
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.funding import FundingSchedule
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

D = Decimal
HOUR_MS = 3_600_000


def hourly_funding_sim() -> ExchangeSimulator:
    """The harness's market with funding every hour (as some Binance symbols pay), so a stop across a funding
    time leaves the simulator's clock less than an hour ahead of the wall clock it follows."""
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in SYMBOLS},
                            SimConfig(start_time_ms=time.time_ns() // 1_000_000),
                            funding_schedule=FundingSchedule(interval_hours=1))
    sim.set_prices(START_PRICES)
    return sim


def test_the_income_history_lists_funding_and_the_fills_rows_as_binance_does() -> None:
    with running_server(hourly_funding_sim(), follow_clock=True) as server:
        ex = ccxt_client(server.url)
        ex.fapiPrivatePostOrder({"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "2"})
        [trade] = ex.fapiPrivateGetUserTrades({"symbol": "BNBUSDT"})
        server.control("/sim/v1/advance", {"seconds": 2 * 3600})  # two funding times
        funding = ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE"})
        assert [(r["symbol"], r["incomeType"], r["income"], r["asset"], r["info"], r["tradeId"]) for r in funding] == [
            ("BNBUSDT", "FUNDING_FEE", "-0.12", "USDT", "FUNDING_FEE", "")] * 2  # 2 × 600 × 0.01 %, paid
        assert [int(r["time"]) % HOUR_MS for r in funding] == [0, 0] and funding[0]["tranId"] != funding[1]["tranId"]
        everything = ex.fapiPrivateGetIncome({})
        assert [(r["incomeType"], r["income"], r["tradeId"]) for r in everything] == [
            ("COMMISSION", "-" + trade["commission"], str(trade["id"])), *[("FUNDING_FEE", "-0.12", "")] * 2]
        assert ex.fapiPrivateGetIncome({"symbol": "BTCUSDT"}) == []
        assert ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE", "limit": "1"}) == funding[:1]
        assert ex.fapiPrivateGetIncome({"startTime": str(int(funding[0]["time"]) + 1)}) == funding[1:]
        assert ex.fapiPrivateGetIncome({"endTime": str(int(funding[0]["time"]))}) == everything[:2]
        ex.fapiPrivatePostOrder({"symbol": "BNBUSDT", "side": "SELL", "type": "MARKET", "quantity": "2"})
        closing = ex.fapiPrivateGetUserTrades({"symbol": "BNBUSDT"})[-1]
        pnl = ex.fapiPrivateGetIncome({"incomeType": "REALIZED_PNL"})
        assert [(r["income"], r["tradeId"]) for r in pnl] == ([(closing["realizedPnl"], str(closing["id"]))]
                                                               if D(closing["realizedPnl"]) else [])


def _trade_funding(tmp_path: Path) -> list[tuple[str, Decimal, int]]:
    return [(str(trade), D(price), int(at)) for trade, price, at in journal_rows(
        tmp_path, "select trade_id, price, time_ms from protection_actions where action = 'funding' order by id")]


def test_funding_paid_while_the_bot_was_stopped_is_the_trades_once_across_restarts(tmp_path: Path) -> None:
    """Noticed at a restart: the long paid funding while the bot was stopped, the wallet showed it, and the trade's
    funding (journal, audit, net P&L) did not. The real bot on ccxt against the simulator server, which keeps
    running; two restarts, then the stop closes the trade."""
    with running_server(hourly_funding_sim(), follow_clock=True) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1")
        with running_bot(env) as (_proc, url):
            stop = long_with_resting_stop(url, tmp_path, server)
        [(trade_id,)] = journal_rows(tmp_path, "select trade_id from positions")
        assert _trade_funding(tmp_path) == []
        sim = server.sim
        next_funding = sim.state.funding_schedule.next_funding_time("BNBUSDT", sim.now_ms)
        server.control("/sim/v1/advance", {"seconds": (next_funding - sim.now_ms) // 1000 + 1})  # nobody listens
        [paid] = sim.state.income.records
        assert paid.symbol == "BNBUSDT" and paid.amount < 0 and paid.time_ms == next_funding
        with running_bot(env):
            counted = wait_for(lambda: _trade_funding(tmp_path), timeout=10)  # was: nothing, ever
        assert counted == [(trade_id, paid.amount, paid.time_ms)]
        with running_bot(env) as (_proc, url):  # a second restart: the history still lists it, counted already
            assert httpx.get(f"{url}/health").json()["positions"] == 1
            assert _trade_funding(tmp_path) == counted
            below = str((stop * D("0.99")).quantize(D("0.01")))
            server.control("/sim/v1/prices", {"prices": {"BNBUSDT": {"last": below, "mark": below}}})
            [(funding,)] = wait_for(lambda: journal_rows(
                tmp_path, "select funding from positions where closed_ms is not null"), timeout=15)
        assert D(funding) == paid.amount  # the closed trade's funding: what the wallet paid, once
        assert _trade_funding(tmp_path) == counted


async def _paper_session(url: str, exchange: InProcessExchange, now_ms: int, *, enter: bool) -> None:
    """A paper session on the resumed account: its start-up reconciliation, then (`enter`) a forced long."""
    async with restarted(url, exchange, now_ms) as (engine, _, clock):
        if enter:
            await engine.bus.publish(Signal(symbol="BNBUSDT", direction=Direction.LONG, confidence=1.0,
                                            source="force", time_ms=now_ms))
        await publish_all(engine.bus, clock, exchange.drain())


def test_a_resumed_paper_account_pays_the_downtimes_funding_to_the_trade(tmp_path: Path) -> None:
    """The saved paper account does not run while the bot is stopped; resuming moves its clock to the wall's and
    pays the funding times passed, before any session listens. That payment reaches the trade the same way."""
    settings = load_settings(env={"QT_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}", "QT_SYMBOLS": "BNBUSDT"})
    instruments = {"BNBUSDT": load_universe().instrument("BNBUSDT")}
    start = 1_800_000_000_000  # an 8-hour funding time
    for wall, enter in ((start, True), (start + 9 * HOUR_MS, False), (start + 18 * HOUR_MS, False)):
        account = open_paper_account(settings, instruments, wall)
        try:
            asyncio.run(_paper_session(settings.db_url, InProcessExchange(account.sim), account.start_ms,
                                       enter=enter))
            position = account.sim.position("BNBUSDT")
            total = account.sim.account.total_funding
        finally:
            account.sim.detach_listener()
    assert position.amount > 0 and total < 0  # paid at +8 h and +16 h, each while the bot was stopped
    [(trade_id,)] = journal_rows(tmp_path, "select trade_id from positions where closed_ms is null")
    journaled = _trade_funding(tmp_path)
    assert sum(amount for _, amount, _ in journaled) == total  # was: 0
    assert journaled == [(trade_id, amount, at) for (_, amount, at) in journaled]
    assert [at for _, _, at in journaled] == [start + 8 * HOUR_MS, start + 16 * HOUR_MS]
