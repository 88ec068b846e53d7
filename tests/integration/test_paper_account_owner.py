"""One journal never resumes another journal's paper account.

`QT_PAPER_STATE` defaults to `paper_account/` beside the SQLite journal, so two journals in one folder
share that folder. Run one after the other, the second used to resume the first's wallet and positions
and adopt them as trades of its own. Now the second start is refused (exit 2) before it journals
anything, with the fix in the message; the first journal resumes its account as before; a journal given
its own `--paper-state` starts fresh beside it.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import httpx
from test_run_session import BIN, bot_env, running_bot, wait_for

from quantum_trader.journal.reader import JournalReader
from quantum_trader.runtime.paper_owner import OWNER_FILE


def identity_of(db: Path) -> str | None:
    reader = JournalReader(f"sqlite:///{db}")
    try:
        return reader.identity()
    finally:
        reader.close()


def sessions_in(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from sessions").fetchone()[0])


def open_position(url: str) -> None:
    answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"}, timeout=30).json()
    assert answer["accepted"] is True, answer
    wait_for(lambda: httpx.get(f"{url}/api/v1/positions").json()["positions"])


def test_a_second_journal_in_the_folder_is_refused_the_first_ones_account(tmp_path: Path) -> None:
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    account = tmp_path / "paper_account"
    calm = {"QT_SPEED": "1"}  # a bar a minute: the position is still open at the restart
    with running_bot(bot_env(tmp_path, QT_DB_URL=f"sqlite:///{first}", **calm)) as (_proc, url):
        open_position(url)
    assert (account / OWNER_FILE).read_text().strip() == identity_of(first)

    refused = subprocess.run([str(BIN), "run", "--duration", "20"], env=bot_env(tmp_path, QT_DB_URL=f"sqlite:///{second}"),
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    message = refused.stderr
    assert f"QT_PAPER_STATE={account}" in message and "belongs to another journal" in message
    assert "--paper-state" in message and str(second) in message and "paper-reset" in message
    assert sessions_in(second) == 0  # refused before it journaled anything

    with running_bot(bot_env(tmp_path, QT_DB_URL=f"sqlite:///{first}", **calm)) as (_proc, url):  # its own: resumed
        [position] = httpx.get(f"{url}/api/v1/positions").json()["positions"]
        assert position["symbol"] == "ETHUSDT" and position["status"] == "PROTECTED"

    own = tmp_path / "b_paper"
    with running_bot(bot_env(tmp_path, QT_DB_URL=f"sqlite:///{second}", QT_PAPER_STATE=str(own))) as (_proc, url):
        assert httpx.get(f"{url}/api/v1/positions").json()["positions"] == []  # a fresh account of its own
    assert sessions_in(second) == 1
    assert (own / OWNER_FILE).read_text().strip() == identity_of(second) != identity_of(first)
