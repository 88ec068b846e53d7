"""A session stopped while its stop witness still waits for a mark journals the witness before it closes.

The real bot (`quantum-trader run`, ccxt, the user-data stream) against the simulator server, with no market
stream (the synthetic bar feed), so a stop's mark is read over REST; the server answers that read 0.7 s late.
The stop fires and, while the read is on its way, the bot gets SIGTERM. The witness used to read inside the
event pump's delivery: the stop cancelled the pump and the read with it, and the stop's `stop_triggered` record
(the audit's evidence of a gap) was never journaled, without a word. Now the read runs beside the bus and the
session's stop waits for it (bounded), so the record is in the journal with the step's price.
"""

from __future__ import annotations

import signal
import time
from decimal import Decimal
from pathlib import Path

import httpx
from test_run_session import bot_env, journal_rows, long_with_resting_stop, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, running_server

MARK_PATH = "/fapi/v1/premiumIndex"


def test_a_stop_during_the_witness_read_still_journals_the_witness(tmp_path: Path) -> None:
    with running_server() as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1", QT_MONITOR_INTERVAL="30")

        def slow_reads() -> int:
            answer = httpx.get(f"{server.url}/sim/v1/faults", headers={"X-MBX-APIKEY": API_KEY}).json()
            return int(answer["injected"].get("slow", 0))

        with running_bot(env) as (proc, url):
            stop = long_with_resting_stop(url, tmp_path, server)
            server.control("/sim/v1/faults", {"kind": "slow", "delay_ms": 700, "paths": [MARK_PATH], "count": 1})
            below = (stop * Decimal("0.98")).quantize(Decimal("0.01"))
            server.control("/sim/v1/prices", {"prices": {"BNBUSDT": {"last": str(below), "mark": str(below)}}})
            wait_for(lambda: slow_reads() >= 1, timeout=10)  # the witness's read reached the venue
            proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            assert proc.wait(timeout=30) == 0
            took = time.monotonic() - stopped
    rows = journal_rows(tmp_path, "select price, reason from protection_actions where action = 'stop_triggered'")
    print(f"\nstopped {took:.2f} s after SIGTERM; witness rows: {rows}")
    assert len(rows) == 1, rows
    price, reason = rows[0]
    assert Decimal(price) == below and "read over REST" in reason, rows
