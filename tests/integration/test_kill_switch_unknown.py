"""A kill switch that could not read the account, or left a position open, says so everywhere it reports.

The engine as a session wires it on the in-process simulator (test_kill_switch_keeps_stops.py's `Bot`), its
adapter answering 503 to a read (the chaos campaign's `server_error`, as the adapter does once its retries are
spent) or to the exits. What is graded is what a person sees: the kill switch's own result, its journaled
summary, the answer of POST /api/v1/kill-switch (`SessionService.kill_switch`, which the route returns as is)
and the alert. Only names the old code has are imported, so each test runs (and fails) on it too.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from test_kill_switch_keeps_stops import BTC, ETH, Bot, run

from quantum_trader.core.metrics import Metrics
from quantum_trader.feeds.market_feed import FeedStatus
from quantum_trader.journal.db import migrate
from quantum_trader.journal.reader import JournalReader
from quantum_trader.notify.alerts import Alerts
from quantum_trader.notify.messages import Level, Message
from quantum_trader.risk.daily_loss import REASON_PREFIX
from quantum_trader.runtime.app_service import SessionService
from quantum_trader.settings.model import load_settings
from quantum_trader.trading.audit import audit_row
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED


def service_of(bot: Bot, tmp_path: Path) -> SessionService:
    """The API's side of the session over the bot's engine (its journal only has to open)."""
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    migrate(url)
    return SessionService(load_settings({}, env={}), bot.engine, bot.monitor, bot.handler, JournalReader(url),
                          Metrics(), FeedStatus("synthetic"))


def alerts_of(bot: Bot) -> list[Message]:
    """Every alert the session would send, as the notifier's queue receives it."""
    sent: list[Message] = []
    Alerts(sent.append, judge=audit_row, daily_loss_prefix=REASON_PREFIX,
           stop_witnessed=STOP_WITNESSED).attach(bot.engine.bus)
    return sent


@pytest.mark.parametrize("unreadable", ["open_orders", "positions"])
def test_a_kill_switch_that_cannot_read_the_account_says_so_and_the_api_never_answers_the_previous_one(
        tmp_path: Path, unreadable: str) -> None:
    """It raised into the bus: no summary journaled, no alert, and the API answered the previous kill switch's
    "cancelled 2 orders, closed 1 position" about a position it had not touched."""
    async def body() -> None:
        bot = Bot()
        service = service_of(bot, tmp_path)
        await bot.open(BTC, "BUY", "0.010")
        first = await service.kill_switch()  # a kill switch that flattened: the previous result
        assert first["summary"] == "cancelled 2 orders, closed 1 position" and bot.nothing_open()
        await bot.open(ETH, "SELL", "1.000")
        [stop] = bot.stops(ETH)
        sent = alerts_of(bot)
        bot.exchange.unreadable = {unreadable}

        answer = await service.kill_switch()
        await bot.pump()
        assert bot.sim.position(ETH).amount == Decimal("-1.000") and bot.stops(ETH) == [stop]  # nothing touched
        unread = ("could not read the account (-1001 Internal error; unable to process your request. Please try "
                  "again.): nothing closed, no stop-loss or take-profit cancelled; every position may still be open")
        assert answer["summary"].startswith(f"cancelled 0 orders, closed 0 positions; {unread}"), answer
        assert answer["positions_unknown"].startswith(unread) and answer["entries_halted"] is True
        assert answer["closed_positions"] == 0 and answer["still_open"] == []
        journaled = bot.actions("kill_switch")[-1]
        assert journaled.reason == f"manual kill switch: {answer['summary']}"
        assert [e.message for e in bot.errors() if e.component == "kill_switch"] == [answer["positions_unknown"]]
        [done] = [m for m in sent if m.kind.startswith("kill_switch_")]
        assert done.level is Level.FAILURE and done.title == ("Kill switch NOT done: account not read, positions "
                                                              "may still be open")

    run(body)


def test_the_kill_switch_alert_is_a_failure_titled_not_done_while_a_position_is_still_open() -> None:
    """"Kill switch done", at warning level, over a position whose exit the exchange refused."""
    async def body() -> None:
        bot = Bot()
        sent = alerts_of(bot)
        await bot.open(BTC, "BUY", "0.010")
        bot.exchange.refuse = 99  # every exit refused: the position stays open, its stop kept

        result = await bot.kill()
        assert result.still_open and bot.sim.position(BTC).amount == Decimal("0.010")
        [done] = [m for m in sent if m.kind.startswith("kill_switch_")]
        assert (done.level, done.title) == (Level.FAILURE, "Kill switch NOT done: 1 position still open")
        assert f"manual kill switch: {result.summary()}" in done.body and "press the kill switch again" in done.body

        bot.exchange.refuse = 0  # the exchange answers again: pressed again, it flattens and is done
        again = await bot.kill()
        assert bot.nothing_open() and again.still_open == []
        last = [m for m in sent if m.kind.startswith("kill_switch_")][-1]
        assert (last.kind, last.level, last.title) == ("kill_switch_done", Level.WARNING, "Kill switch done")
        assert last.body == f"manual kill switch: {again.summary()}"

    run(body)
