"""The daily loss limit on the live path acts at the stop-out that breaks it, not a minute later.

Found while testing transfers: on the live path the monitor reads the account over REST only every 30 s (request
weight), and between readings its equity was the last wallet read plus the open positions' unrealised P&L. At
a stop-out the position left the view at once but its realised loss did not reach the wallet, so the equity
point taken at that moment still read the pre-loss equity, and the limit learned of the loss up to a minute
later (here: no kill switch within 50 s of a stop-out that lost 1.44 % against a 0.3 % limit), while new
entries were still allowed. The stream's ACCOUNT_UPDATE carries the wallet after every fill (`wb`); the
monitor's view now takes it (`WalletUpdate`), and a REST reading after the number of positions changed reads
the account too.

The real bot on ccxt and the user-data stream against the simulator server; one SQLite journal.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
from test_run_session import bot_env, journal_rows, long_with_resting_stop, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, running_server


def test_a_stop_out_past_the_daily_limit_fires_the_kill_switch_within_5_s(tmp_path: Path) -> None:
    with running_server(follow_clock=True) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1", QT_DAILY_LOSS_LIMIT_PCT="0.3", QT_MONITOR_INTERVAL="1")
        with running_bot(env) as (_proc, url):
            stop = long_with_resting_stop(url, tmp_path, server)
            time.sleep(2.0)  # past the start-up readings: the next account reading is paced 30 s away
            below = (stop * Decimal("0.99")).quantize(Decimal("0.01"))
            stepped = time.monotonic()
            server.control("/sim/v1/prices", {"prices": {"BNBUSDT": {"last": str(below), "mark": str(below)}}})
            wallet = server.sim.wallet_balance
            [(reason,)] = wait_for(lambda: journal_rows(tmp_path, "select reason from protection_actions where "
                                                                  "action = 'kill_switch' and reason not like "
                                                                  "'%cancelled%'") or None, timeout=20)
            elapsed = time.monotonic() - stepped
            health = httpx.get(f"{url}/health").json()
    print(f"\ndaily kill switch {elapsed:.2f} s after the stop-out: {reason}")
    assert wallet < Decimal("9970")  # the stop-out lost more than 0.3 % of 10,000
    assert reason.startswith("daily loss limit: equity ") and elapsed < 5.0  # was: nothing for a minute
    assert health["trading"] == "HALTED"
