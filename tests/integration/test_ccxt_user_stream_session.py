"""The bot on the live path (ccxt and the user-data stream against the simulator server): a stop-out on the
exchange is journaled with its exit reason within 3 s, long before the monitor's next periodic sweep
(30 s here), so it came from the stream, not from a REST reading."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_run_session import bot_env, long_with_resting_stop, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, running_server


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_a_stop_out_on_the_exchange_is_journaled_within_3_s(tmp_path: Path) -> None:
    with running_server() as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1", QT_MONITOR_INTERVAL="30")
        db = tmp_path / "journal.db"
        with running_bot(env) as (_proc, url):
            stop = long_with_resting_stop(url, tmp_path, server)
            time.sleep(1.0)
            below = (stop * Decimal("0.99")).quantize(Decimal("0.01"))
            stepped = time.monotonic()
            server.control("/sim/v1/prices", {"prices": {"BNBUSDT": {"last": str(below), "mark": str(below)}}})
            closed = wait_for(lambda: _rows(db, "select exit_reason from positions where symbol = 'BNBUSDT' "
                                                "and closed_ms is not null") or None, timeout=10)
            elapsed = time.monotonic() - stepped
    print(f"\nstop-out journaled {elapsed:.2f} s after the price step: {closed}")
    assert closed[0][0] is not None
    assert elapsed < 3.0
