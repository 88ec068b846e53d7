"""`positions`, `orders`, `force-entry`, `kill-switch` against real servers on 127.0.0.1.

`--exchange` reads a real simulator server (positions opened and protected through the Algo Order
API, exactly as the bot does it); `--api` reads the bot's API served by uvicorn over a fake service.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from test_api import TOKEN, FakeService, serve_api
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server
from typer.testing import CliRunner, Result

from quantum_trader.cli import apiclient
from quantum_trader.cli.main import app
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.factory import connect

ENV = {"QT_API_KEY": API_KEY, "QT_API_SECRET": API_SECRET, "QT_PAPER_TRADING": "true", "COLUMNS": "220",
       "QT_API_TOKEN": ""}


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env={**ENV, **env})


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def _open_short(url: str, *, protect: bool, wrong_side_stop: bool = False, stop_limit: bool = False) -> None:
    """Short 1 BNB at 600, then (optionally) a closePosition stop at 620 and take-profit at 570 on MARK_PRICE,
    or (`stop_limit`) a reduceOnly stop-limit STOP at 620 (limit 625) with the same take-profit."""
    exchange = await connect(url, paper=True, api_key=API_KEY, api_secret=API_SECRET)
    try:
        await exchange.place(OrderIntent(client_id="entry-1", symbol="BNBUSDT", side=Side.SELL,
                                         type=OrderType.MARKET, quantity=D("1")))
        if protect:
            for cid, kind, trigger in (("sl-1", OrderType.STOP_MARKET, "620"),
                                       ("tp-1", OrderType.TAKE_PROFIT_MARKET, "570")):
                await exchange.place(OrderIntent(client_id=cid, symbol="BNBUSDT", side=Side.BUY, type=kind,
                                                 trigger_price=D(trigger), close_position=True,
                                                 working_type=WorkingType.MARK_PRICE))
        if stop_limit:
            await exchange.place(OrderIntent(client_id="stop-limit-1", symbol="BNBUSDT", side=Side.BUY,
                                             type=OrderType.STOP, trigger_price=D("620"), price=D("625"),
                                             quantity=D("1"), reduce_only=True))
            await exchange.place(OrderIntent(client_id="tp-1", symbol="BNBUSDT", side=Side.BUY,
                                             type=OrderType.TAKE_PROFIT_MARKET, trigger_price=D("570"),
                                             close_position=True, working_type=WorkingType.MARK_PRICE))
        if wrong_side_stop:  # a SELL stop below the mark on a short: entry side, protects nothing
            await exchange.place(OrderIntent(client_id="bad-1", symbol="BNBUSDT", side=Side.SELL,
                                             type=OrderType.STOP_MARKET, trigger_price=D("590"),
                                             quantity=D("1"), working_type=WorkingType.MARK_PRICE))
    finally:
        await exchange.close()


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with running_server() as running:
        yield running


def _short(server: RunningServer, *, protect: bool, wrong_side_stop: bool = False, stop_limit: bool = False) -> None:
    asyncio.run(_open_short(server.url, protect=protect, wrong_side_stop=wrong_side_stop, stop_limit=stop_limit))
    server.control("/sim/v1/prices", {"prices": {"BNBUSDT": "606"}})  # 1% against the short


def test_protected_short_via_exchange(server: RunningServer) -> None:
    _short(server, protect=True)
    result = cli("positions", "--exchange", server.url)
    assert result.exit_code == 0, result.output
    assert "PROTECTED" in result.stdout and "UNPROTECTED" not in result.stdout
    assert "STOP_MARKET @ 620" in result.stdout and "TAKE_PROFIT_MARKET @ 570" in result.stdout

    doc = json.loads(cli("positions", "--exchange", server.url, "--json").stdout)
    (pos,) = doc["positions"]
    assert (pos["symbol"], pos["side"], pos["size"], pos["status"]) == ("BNBUSDT", "short", "1", "PROTECTED")
    assert pos["stop_loss"]["trigger_price"] == "620" and pos["take_profit"]["type"] == "TAKE_PROFIT_MARKET"
    entry, lev = D(pos["entry"]), pos["leverage"]  # the market entry fills near 600, through the spread
    assert D(pos["mark"]) == D("606") and D(pos["unrealized_pnl"]) == entry - D("606")
    move_pct = (entry - D("606")) / entry * 100
    assert D(pos["pnl_pct_notional"]) == move_pct.quantize(D("0.01"))
    assert D(pos["entry_notional"]) == entry and D(pos["notional"]) == D("606")  # the % is of the entry notional
    assert "entry notional" in result.stdout and "% notional = uPnL / entry notional" in result.stdout
    assert D(pos["roe_pct"]) == (move_pct * lev).quantize(D("0.01"))  # a 1% move at N x is N% of margin
    assert doc["unprotected"] == 0


def test_unprotected_short_exits_4(server: RunningServer) -> None:
    _short(server, protect=False)
    result = cli("positions", "--exchange", server.url)
    assert result.exit_code == 4
    assert "UNPROTECTED" in result.stdout
    as_json = cli("positions", "--exchange", server.url, "--json")
    assert as_json.exit_code == 4
    assert json.loads(as_json.stdout)["positions"][0]["status"] == "UNPROTECTED"


def test_orders_show_algo_orders_grouped_and_wrong_side(server: RunningServer) -> None:
    _short(server, protect=False, wrong_side_stop=True)
    result = cli("orders", "--exchange", server.url, "--json")
    assert result.exit_code == 4
    doc = json.loads(result.stdout)
    (group,) = doc["groups"]
    assert group["symbol"] == "BNBUSDT" and group["status"] == "UNPROTECTED"
    assert {"no_stop_loss", "wrong_side"} <= set(group["flags"])
    (order,) = group["orders"]
    assert order["conditional"] is True and order["flags"] == ["wrong_side"]
    table = cli("orders", "--exchange", server.url)
    assert "wrong_side" in table.stdout and "UNPROTECTED" in table.stdout


def test_a_stop_limit_is_not_a_working_stop_loss(server: RunningServer) -> None:
    """The tester's case: a reduceOnly STOP (stop-limit) read as `SL STOP @ 620`, exit 0, while the monitor
    replaces it. Both commands now say the position has no working stop-loss, why, and exit 4."""
    _short(server, protect=False, stop_limit=True)
    positions = cli("positions", "--exchange", server.url)
    assert positions.exit_code == 4, positions.output
    assert "UNPROTECTED" in positions.stdout and "SL STOP @" not in positions.stdout
    assert "none (STOP @ 620: stop_limit)" in positions.stdout
    assert "STOP is a stop-limit: its limit order may rest unfilled after a gap" in positions.stdout
    (pos,) = json.loads(cli("positions", "--exchange", server.url, "--json").stdout)["positions"]
    assert pos["stop_loss"] is None and pos["status"] == "UNPROTECTED"
    assert [(i["type"], i["flags"]) for i in pos["protection_issues"]] == [("STOP", ["stop_limit"])]
    orders = cli("orders", "--exchange", server.url, "--json")
    assert orders.exit_code == 4
    (group,) = json.loads(orders.stdout)["groups"]
    assert group["status"] == "UNPROTECTED" and {"no_stop_loss", "stop_limit"} <= set(group["flags"])
    (stop,) = [o for o in group["orders"] if o["type"] == "STOP"]
    assert stop["role"] == "ineffective" and stop["flags"] == ["stop_limit"] and "stop-limit" in stop["reason"]
    table = cli("orders", "--exchange", server.url)
    assert table.exit_code == 4, (table.output, table.exception)
    assert "stop_limit" in table.stdout and "UNPROTECTED" in table.stdout


def test_protected_orders_exit_0(server: RunningServer) -> None:
    _short(server, protect=True)
    result = cli("orders", "--exchange", server.url, "--json")
    assert result.exit_code == 0
    (group,) = json.loads(result.stdout)["groups"]
    assert sorted(o["role"] for o in group["orders"]) == ["stop_loss", "take_profit"]


def test_an_80_column_terminal_shows_every_value_whole(server: RunningServer) -> None:
    """The wide tables cut every cell to "BN…" and "STOP_MA…" at 80 columns, which cannot tell STOP_MARKET
    from STOP (the incident's difference): narrow terminals get one short line per field group instead."""
    _short(server, protect=True)
    positions = cli("positions", "--exchange", server.url, COLUMNS="80")
    orders = cli("orders", "--exchange", server.url, COLUMNS="80")
    assert positions.exit_code == orders.exit_code == 0
    for output in (positions.stdout, orders.stdout):
        assert "…" not in output and max(len(line) for line in output.splitlines()) <= 80
    assert "BNBUSDT short 1 @" in positions.stdout and "PROTECTED" in positions.stdout
    assert "% of entry notional" in positions.stdout and "% of margin" in positions.stdout
    assert "SL STOP_MARKET @ 620  TP TAKE_PROFIT_MARKET @ 570" in positions.stdout
    assert "BUY STOP_MARKET (algo) trigger 620 closePosition stop_loss" in orders.stdout
    assert "BUY TAKE_PROFIT_MARKET (algo) trigger 570 closePosition take_profit" in orders.stdout
    wide = cli("positions", "--exchange", server.url)  # 220 columns: the table
    assert wide.exit_code == 0, (wide.output, wide.exception)  # it came back empty once under load: say why
    assert "┃ symbol" in wide.stdout and "STOP_MARKET @ 620" in wide.stdout


def test_installed_command_as_subprocess(server: RunningServer) -> None:
    """The console script itself: stdout is exactly one JSON document and the exit code is 4."""
    _short(server, protect=False)
    command = Path(sys.executable).with_name("quantum-trader")
    done = subprocess.run([str(command), "positions", "--exchange", server.url, "--json"], capture_output=True,
                          text=True, env={**os.environ, **ENV}, timeout=120, check=False)
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["unprotected"] == 1
    assert API_SECRET not in done.stdout + done.stderr


def test_connection_errors_exit_1_with_one_line() -> None:
    url = closed_port_url()
    for args in (("positions", "--exchange", url), ("orders", "--api", url), ("kill-switch", "--api", url)):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
        assert result.stdout == ""


def test_api_and_exchange_together_is_one_line_and_exit_2() -> None:
    for command in ("positions", "orders"):
        result = cli(command, "--api", "http://127.0.0.1:1", "--exchange", "http://127.0.0.1:1")
        assert result.exit_code == 2, command
        assert result.stderr.startswith("error: --api and --exchange: give one, not both"), result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == "", result.stderr


def test_positions_and_orders_via_api() -> None:
    fake = FakeService()
    with serve_api(fake) as url:
        ok = cli("positions", "--api", url, "--json")
        fake.unprotected = 1
        naked = cli("positions", "--api", url)
        orders = cli("orders", "--api", url, "--json")
        default_port = cli("positions", QT_API_PORT=url.rsplit(":", 1)[1])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["positions"][0]["symbol"] == "BNBUSDT"
    assert naked.exit_code == 4 and "UNPROTECTED" in naked.stdout
    assert orders.exit_code == 4 and json.loads(orders.stdout)["groups"][0]["symbol"] == "BNBUSDT"
    assert default_port.exit_code == 4  # found through QT_API_HOST/QT_API_PORT


def test_force_entry_and_kill_switch_via_api() -> None:
    fake = FakeService()
    with serve_api(fake) as url:
        accepted = cli("force-entry", "bnbusdt", "--side", "short", "--api", url)
        fake.accept = False
        refused = cli("force-entry", "ETHUSDT", "--side", "long", "--api", url)
        bad_side = cli("force-entry", "ETHUSDT", "--side", "up", "--api", url)
        killed = cli("kill-switch", "--api", url)
    assert accepted.exit_code == 0 and "accepted" in accepted.stdout
    assert refused.exit_code == 1 and "max positions reached" in refused.stderr
    assert bad_side.exit_code == 2
    assert killed.exit_code == 0 and "closed 1 position(s)" in killed.stdout
    assert fake.calls.count(("force_entry", ("BNBUSDT", "short"))) == 1
    assert ("kill_switch", ()) in fake.calls


class StagingService(FakeService):
    """The answer of a bot in STAGING_MODE: nothing sent, the summary says what would have been."""

    async def kill_switch(self) -> dict[str, Any]:
        return {"cancelled_orders": 0, "closed_positions": 0, "would_cancel": ["sl1", "tp1"],
                "would_close": ["BNBUSDT 1.15", "DOGEUSDT 1000"], "refused": 0, "entries_halted": True,
                "summary": "sent nothing (dry run): would cancel 2 orders (sl1, tp1) and close 2 positions "
                           "(BNBUSDT 1.15, DOGEUSDT 1000)"}


def test_kill_switch_prints_the_bots_summary() -> None:
    """Staging printed "cancelled 0 order(s), closed 0 position(s)" over an answer that said what it would
    do; the CLI now prints the bot's summary (and the counts only from a bot that gives none)."""
    with serve_api(StagingService()) as url:
        staging = cli("kill-switch", "--api", url)
    assert staging.exit_code == 0
    assert staging.stdout.splitlines()[-1] == (  # above it: the served API's own log line, in this process
        "kill switch: sent nothing (dry run): would cancel 2 orders (sl1, tp1) and close 2 positions "
        "(BNBUSDT 1.15, DOGEUSDT 1000); new entries halted")
    assert "cancelled 0" not in staging.stdout


class NotFlatService(FakeService):
    """A bot whose kill switch ended without a flat account: a position whose exit was refused (`still_open`), or
    an account it could not read (`positions_unknown`), as trading/kill_switch.py reports them."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer

    async def kill_switch(self) -> dict[str, Any]:
        return {"cancelled_orders": 0, "closed_positions": 0, "refused": 0, "entries_halted": True, "still_open": [],
                "positions_unknown": None, **self.answer}


UNREAD = ("could not read the account (-1001 Internal error): nothing closed, no stop-loss or take-profit "
          "cancelled; every position may still be open: press the kill switch again once the exchange answers")
STILL_OPEN = "BTCUSDT 0.01 still open, protected by its stop-loss qt-sl-1 at 98000 (kept)"


@pytest.mark.parametrize(("answer", "line"), [
    ({"positions_unknown": UNREAD, "summary": f"cancelled 0 orders, closed 0 positions; {UNREAD}"},
     "kill switch NOT done: the bot could not read the account, so it cannot tell which positions are closed: "
     "every one may still be open; "),
    ({"still_open": [STILL_OPEN], "refused": 1, "summary": f"cancelled 0 orders, closed 0 positions; 1 refused; "
                                                         f"{STILL_OPEN}"},
     "kill switch NOT done: 1 position still open; "),
], ids=["account-unread", "position-still-open"])
def test_a_kill_switch_that_left_the_account_not_flat_exits_7_saying_so(answer: dict[str, Any], line: str) -> None:
    """Both exited 0 ("done") with the bot's summary alone: a script took a position still open, or an account
    nobody could read, for a flat one."""
    with serve_api(NotFlatService(answer)) as url:
        killed = cli("kill-switch", "--api", url)
    assert killed.exit_code == 7, (killed.exit_code, killed.stderr)
    assert f"kill switch: {answer['summary']}; new entries halted" in killed.stdout
    # The last line: an earlier test's in-process `run` or `audit` can leave logging on a closed stream, whose
    # "--- Logging error ---" the served API's log line then prints above it.
    assert killed.stderr.splitlines()[-1] == (f"{line}check `quantum-trader positions` and run `quantum-trader "
                                              "kill-switch` again once the exchange answers")


class SlowService(FakeService):
    """A bot whose kill switch (and positions read) takes `seconds`: a flatten against an exchange answering
    503s took 24 s in a user trial. `finished` is set when the kill switch is done, answered or not."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.finished = threading.Event()

    async def kill_switch(self) -> dict[str, Any]:
        await asyncio.sleep(self.seconds)
        self.finished.set()
        return await super().kill_switch()

    async def positions(self) -> dict[str, Any]:
        await asyncio.sleep(self.seconds)
        return await super().positions()


def test_a_kill_switch_slower_than_the_default_timeout_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's 10 s request timeout made a 24 s flatten read as "is it running?" (exit 1): the kill switch
    now waits longer than any other request (90 s by default)."""
    monkeypatch.setattr(apiclient, "TIMEOUT_S", 0.5)  # every other request gives up after 0.5 s
    with serve_api(SlowService(1.5)) as url:
        killed = cli("kill-switch", "--api", url)
    assert killed.exit_code == 0, killed.stderr
    assert "closed 1 position(s)" in killed.stdout


def test_a_kill_switch_past_its_timeout_is_still_flattening_exit_6_and_a_closed_port_is_not_running() -> None:
    slow = SlowService(3.0)
    with serve_api(slow) as url:
        waited = cli("kill-switch", "--api", url, "--timeout", "0.5")
        by_env = cli("kill-switch", "--api", url, QT_KILL_SWITCH_TIMEOUT_S="0.5")
        assert slow.finished.wait(15)  # the bot carried on with the kill switch after the CLI stopped waiting
    for result in (waited, by_env):
        assert result.exit_code == 6, (result.exit_code, result.stderr)
        assert result.stderr.splitlines()[-1] == (  # after the served API's own log lines, in this one process
            "kill switch: the bot accepted the kill switch but has not finished within 0.5 s; it is still flattening: "
            "check `quantum-trader positions` or /health (do not stop the bot meanwhile)")
        assert "kill switch: " not in result.stdout  # no summary (the served API's own log lines are there)
    refused = cli("kill-switch", "--api", closed_port_url(), "--timeout", "0.5")
    assert refused.exit_code == 1 and refused.stderr.startswith("error: cannot reach the bot's API at ")
    assert "is `quantum-trader run` running?" in refused.stderr and "flattening" not in refused.stderr


def test_a_busy_bot_is_not_called_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apiclient, "TIMEOUT_S", 0.5)
    with serve_api(SlowService(2.0)) as url:
        busy = cli("positions", "--api", url)
    assert busy.exit_code == 1 and "cannot reach" not in busy.stderr and "running?" not in busy.stderr
    assert busy.stderr == (f"error: GET /api/v1/positions: the bot's API at {url} accepted the request but did not "
                           "answer within 0.5 s; it is running but busy\n")


def test_token_from_environment() -> None:
    fake = FakeService()
    with serve_api(fake, api_token=TOKEN) as url:
        without = cli("kill-switch", "--api", url)
        wrong = cli("kill-switch", "--api", url, QT_API_TOKEN="nope")
        with_token = cli("kill-switch", "--api", url, QT_API_TOKEN=TOKEN)
    assert without.exit_code == 1 and "401" in without.stderr and "QT_API_TOKEN" in without.stderr
    assert wrong.exit_code == 1 and "nope" not in wrong.stderr
    assert with_token.exit_code == 0
    assert fake.calls == [("kill_switch", ())]

