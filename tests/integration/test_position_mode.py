"""An account in Hedge Mode: the bot refuses to start, and the commands that read the exchange say so.

The bot trades One-way Mode only (positionSide BOTH, reduceOnly and closePosition orders), which Binance
refuses on an account in Hedge Mode (-4061, -1106): a bot started there could never place a stop for a
position opened by hand, nor close one. `quantum-trader run` (the console script) against a simulator
server switched to Hedge Mode with Binance's own signed POST /fapi/v1/positionSide/dual must exit 2 with
one line naming the problem and the fix, before it journals a session; in One-way Mode it starts as
before. The in-process paper account is read the same way. `positions --exchange` and `orders --exchange`
warn on stderr.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from test_cli_read import cli
from test_run_session import BIN, bot_env, journal_rows, running_bot
from test_simserver_support import API_KEY, API_SECRET, RunningServer, make_sim, running_server

from quantum_trader.exchange.budget import Priority, WeightBudget
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.order_rate import OrderKind
from quantum_trader.sim.paper_store import PaperAccountStore

#: Long enough for a session that wrongly starts to be seen running, short enough to end the test.
DURATION_S = "5"
FIX = ("switch it in Binance (Preferences > Position Mode > One-way) or POST /fapi/v1/positionSide/dual "
       "dualSidePosition=false, with no open positions or orders")


def switch_to_hedge_mode(server: RunningServer) -> None:
    server.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"})


def run_until_exit(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "run", "--duration", DURATION_S, *options], env=env, capture_output=True,
                          text=True, timeout=90)


def assert_refused(done: subprocess.CompletedProcess[str], exchange: str, fix: str) -> None:
    """`exchange` as the user gave it: `QT_EXCHANGE=URL` from the environment, `--exchange URL` from the option."""
    assert done.returncode == 2, done.stdout + done.stderr
    line = done.stderr.strip().splitlines()[-1]
    named = exchange if exchange.startswith("--exchange ") else f"QT_EXCHANGE={exchange}"
    assert line == (f"error: the account at {named} is in Hedge Mode (dualSidePosition=true); Quantum "
                    "Trader trades One-way Mode only and the exchange would refuse its every order, stops included: "
                    f"{fix}"), done.stderr
    assert "Traceback" not in done.stderr and "Unclosed client session" not in done.stderr


class RecordingBudget(WeightBudget):
    """The request budget, noting what it admits."""

    def __init__(self) -> None:
        super().__init__()
        self.admitted: list[tuple[int, str]] = []

    def admit(self, weight: int, priority: Priority, what: str = "", order: OrderKind | None = None) -> None:
        super().admit(weight, priority, what, order)
        self.admitted.append((weight, what))


def test_the_position_mode_read_passes_the_request_budget_at_its_weight() -> None:
    async def read(url: str, budget: WeightBudget) -> bool:
        exchange = CcxtExchange(url, api_key=API_KEY, api_secret=API_SECRET, budget=budget)
        try:
            return await exchange.hedge_mode()
        finally:
            await exchange.close()

    budget = RecordingBudget()
    with running_server() as server:
        switch_to_hedge_mode(server)
        assert asyncio.run(read(server.url, budget)) is True
    assert budget.admitted == [(30, "GET /fapi/v1/positionSide/dual")]


@pytest.mark.parametrize("staging", [False, True], ids=["paper", "staging"])
def test_the_bot_refuses_an_account_in_hedge_mode(tmp_path: Path, staging: bool) -> None:
    with running_server() as server:
        switch_to_hedge_mode(server)
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_FEED="exchange", QT_SPEED="1", **({"STAGING_MODE": "true"} if staging else {}))
        done = run_until_exit(env)
        assert server.sim.account.dual_side  # read, never switched
    assert_refused(done, server.url, FIX)
    assert journal_rows(tmp_path, "select count(*) from sessions") == [(0,)]  # refused before anything is recorded


def test_run_exchange_names_the_option_the_user_typed(tmp_path: Path) -> None:
    """`run --exchange URL` was refused naming QT_EXCHANGE=URL, a variable the user never set (every other line
    about that URL names the option: tests/integration/test_exchange_option_named.py)."""
    with running_server() as server:
        switch_to_hedge_mode(server)
        env = bot_env(tmp_path, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET, QT_FEED="exchange", QT_SPEED="1")
        done = run_until_exit(env, "--exchange", server.url)
    assert_refused(done, f"--exchange {server.url}", FIX)
    assert "QT_EXCHANGE" not in done.stderr


def test_the_position_mode_read_outlasts_a_short_outage_like_every_start_up_read(tmp_path: Path) -> None:
    with running_server() as server:
        switch_to_hedge_mode(server)
        server.control("/sim/v1/faults", {"kind": "server_error", "count": 3, "status": 503,
                                          "paths": ["/fapi/v1/positionSide/dual"]})
        done = run_until_exit(bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                                      QT_FEED="exchange", QT_SPEED="1"))
    assert "start-up waiting on the exchange" in done.stderr and "position mode: HTTP 503" in done.stderr
    assert_refused(done, server.url, FIX)


def test_the_bot_starts_in_one_way_mode_as_before(tmp_path: Path) -> None:
    with running_server() as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_FEED="exchange", QT_SPEED="1")
        with running_bot(env) as (proc, _url):
            assert proc.poll() is None
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_the_bot_refuses_an_in_process_paper_account_in_hedge_mode(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_EXCHANGE="sim")
    first = run_until_exit({**env, "QT_FEED": "synthetic"})
    assert first.returncode == 0, first.stderr  # a paper account of this journal, saved beside it
    store = PaperAccountStore(tmp_path / "paper_account")
    sim = make_sim()
    assert store.open(sim)
    sim.set_position_mode(True)
    store.save()
    store.close()
    assert_refused(run_until_exit(env), "sim", "`quantum-trader paper-reset` starts a fresh paper account in "
                   "One-way Mode")


def test_positions_and_orders_read_from_the_exchange_warn_of_hedge_mode() -> None:
    with running_server() as server:
        one_way = cli("positions", "--exchange", server.url)
        assert one_way.exit_code == 0 and "Hedge Mode" not in one_way.stderr, one_way.output
        switch_to_hedge_mode(server)
        for side, position_side in (("BUY", "LONG"), ("SELL", "SHORT")):  # one symbol held both ways
            server.call("POST", "/fapi/v1/order", {"symbol": "BNBUSDT", "side": side, "type": "MARKET",
                                                   "quantity": "1", "positionSide": position_side})
        for command in ("positions", "orders"):
            for args in ((), ("--json",)):
                result = cli(command, "--exchange", server.url, *args)
                assert result.stderr.startswith(f"warning: the account at {server.url} is in Hedge Mode "
                                                "(dualSidePosition=true)"), result.output
                assert "dualSidePosition=false" in result.stderr and result.stderr.count("\n") == 1
