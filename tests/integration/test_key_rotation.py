"""Rotating the API key mid-day keeps the daily loss limit's day: the reference is the account's, not the key's.

The report: the account was named by its key's fingerprint (the futures API names no account), so a trader who
rotated keys mid-day (a new key for the same account, the bot restarted with it, the old key deleted: the README's
way) after losing part of the day got a fresh allowance measured from the equity at the restart. Now a key the
journal has not seen is shown an order of the accounts it knows on that exchange; the same account answers with
that very order, and the session goes on with that account's day (runtime/account_link.py). A key of another
account, at the same URL, is still another account.

The real bot (`quantum-trader run`, ccxt, the user-data stream) against the simulator server, which keeps several
keys per account as Binance does (`POST`/`DELETE /sim/v1/apiKeys`); one SQLite journal.
"""

from __future__ import annotations

import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
from test_run_session import bot_env, journal_rows, long_with_resting_stop, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, RunningServer, make_sim, running_server

NEW_KEY, NEW_SECRET = "rotated-key-7Qx2", "rotated-secret-Vb81"
LIMITS = {"QT_SYMBOLS": "BNBUSDT", "QT_SPEED": "1", "QT_DAILY_LOSS_LIMIT_PCT": "1", "QT_RISK_PER_TRADE_PCT": "2",
          "QT_MONITOR_INTERVAL": "0.5"}


def test_a_rotated_key_keeps_the_days_reference_and_the_kill_switch_trips_where_it_would_have(tmp_path: Path) -> None:
    """1 % daily limit from 10,000 (floor 9,900); a long sized to lose 2 % at its stop. Half the allowance is lost
    (equity 9,950) and a plain restart keeps the day's reference 10,000 and floor 9,900. Then the key is rotated and,
    with equity at 9,890 by then, the restarted bot trips the daily kill switch measured from 10,000, as it would
    have without the rotation (it used to start the day again from 9,890)."""
    with running_server(follow_clock=True) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET, **LIMITS)
        with running_bot(env) as (_proc, url):
            long_with_resting_stop(url, tmp_path, server)
            first = wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] is not None))
            _equity_to(server, Decimal("9950"), API_KEY)
        with running_bot(env) as (_proc, url):  # a plain restart: the day goes on
            plain = wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] is not None))
        _control(server, "POST", "/sim/v1/apiKeys", {"apiKey": NEW_KEY, "secret": NEW_SECRET}, API_KEY)
        rotated_env = {**env, "QT_API_KEY": NEW_KEY, "QT_API_SECRET": NEW_SECRET}
        _control(server, "DELETE", "/sim/v1/apiKeys", {"apiKey": API_KEY}, NEW_KEY)  # the old key is gone
        _equity_to(server, Decimal("9890"), NEW_KEY)  # more lost while it restarts: past the day's floor
        with running_bot(rotated_env) as (_proc, url):
            rotated = wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] is not None))
            assert rotated["day_start_equity"] == "10000", rotated  # was 9889.88: the day started again
            [(reason,), *_done] = wait_for(lambda: journal_rows(
                tmp_path, "select reason from protection_actions where action = 'kill_switch' order by id") or None,
                timeout=30)
            health = httpx.get(f"{url}/health").json()
    assert first["day_start_equity"] == plain["day_start_equity"] == "10000"
    assert first["floor"] == plain["floor"] == "9900"
    # was: no kill switch, the day measured from the rotated key's first point (9,890: floor 9,791.10)
    assert reason.startswith("daily loss limit: equity 98") and reason.endswith("from 10000 at the UTC day's start")
    assert health["trading"] == "HALTED" and health["daily_loss"]["day_start_equity"] == "10000", health
    accounts = [account for (account,) in journal_rows(tmp_path, "select account from sessions order by id")]
    assert len(accounts) == 3 and len(set(accounts)) == 1, accounts  # one account, whichever key


def test_a_key_of_another_account_at_the_same_url_starts_its_own_day(tmp_path: Path) -> None:
    """The same URL, now served by another account (another simulator, 20,000 USDT) with another key: the journal's
    order of the first account is unknown there, so the second key is another account with a day of its own."""
    with running_server(follow_clock=True) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET, **LIMITS)
        with running_bot(env) as (_proc, url):
            long_with_resting_stop(url, tmp_path, server)
            wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] is not None))
        port = server.port
    with running_server(make_sim(Decimal("20000")), port=port, api_key=NEW_KEY, api_secret=NEW_SECRET,
                        follow_clock=True) as other:
        other_env = {**env, "QT_EXCHANGE": other.url, "QT_API_KEY": NEW_KEY, "QT_API_SECRET": NEW_SECRET}
        with running_bot(other_env) as (_proc, url):
            own = wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] is not None))
    accounts = [account for (account,) in journal_rows(tmp_path, "select account from sessions order by id")]
    assert len(set(accounts)) == 2, accounts
    assert own["day_start_equity"] == "20000" and own["floor"] == "19800", own


def _control(server: RunningServer, method: str, path: str, body: dict[str, Any], key: str) -> Any:
    response = httpx.request(method, f"{server.url}{path}", json=body, headers={"X-MBX-APIKEY": key})
    assert response.status_code == 200, response.text
    return response.json()


def _equity_to(server: RunningServer, target: Decimal, key: str) -> None:
    """Move BNBUSDT's last and mark price so the account's equity is about `target` (a little below: the price is
    rounded down to the tick), the long's stop still below it."""
    position = server.sim.position("BNBUSDT")
    price = position.entry_price + (target - server.sim.wallet_balance) / position.amount
    price = price.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    _control(server, "POST", "/sim/v1/prices", {"prices": {"BNBUSDT": {"last": str(price), "mark": str(price)}}}, key)


def _daily_loss(url: str, ready: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = httpx.get(f"{url}/health").json()["daily_loss"]
    return found if ready(found) else None


def test_the_simulator_keeps_several_keys_per_account_as_binance_does() -> None:
    """A new key trades the same account at once; a deleted one is refused (-2015); the last one stays."""
    with running_server() as server:
        assert _control(server, "POST", "/sim/v1/apiKeys", {"apiKey": NEW_KEY, "secret": NEW_SECRET},
                        API_KEY) == {"apiKeys": 2}
        assert _balance(server, NEW_KEY, NEW_SECRET).status_code == 200
        assert _balance(server, NEW_KEY, API_SECRET).json()["code"] == -1022  # its own secret signs, no other
        assert _control(server, "DELETE", "/sim/v1/apiKeys", {"apiKey": API_KEY}, NEW_KEY) == {"apiKeys": 1}
        assert _balance(server, API_KEY, API_SECRET).json()["code"] == -2015
        last = httpx.request("DELETE", f"{server.url}/sim/v1/apiKeys", json={"apiKey": NEW_KEY},
                             headers={"X-MBX-APIKEY": NEW_KEY})
        assert last.status_code == 400 and "last key" in last.json()["msg"]
        again = httpx.post(f"{server.url}/sim/v1/apiKeys", json={"apiKey": NEW_KEY, "secret": "x"},
                           headers={"X-MBX-APIKEY": NEW_KEY})
        assert again.status_code == 400 and NEW_SECRET not in again.text


def _balance(server: RunningServer, key: str, secret: str) -> httpx.Response:
    query = server.signed({"timestamp": time.time_ns() // 1_000_000}, secret=secret)
    return httpx.get(f"{server.url}/fapi/v2/balance?{query}", headers={"X-MBX-APIKEY": key})
