"""A paper account keeps its income history (transfers, funding) across a stop and a resume.

Found by a user's question: a paper bot stopped and resumed lost its income history, so a later restart could not
read the funding and transfers made before the resume (runtime/startup.py reads them back for the daily loss
reference and the open trade's funding), and the resumed simulator gave `tranId`s from the start again: a new row
could carry the id of an older one, and the income reader, which counts a row once by (incomeType, tranId), could
drop it as a duplicate. The rows (within Binance's three months) and the next `tranId` are now saved with the
account, on disk, in the real store's files; an account saved before they were still loads, with an empty history.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from pathlib import Path

from conftest import long, make_sim

from quantum_trader.domain.exchange_types import FUNDING_FEE, BalanceUpdate
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.income import FIRST_TRAN_ID, RETENTION_MS, TRANSFER
from quantum_trader.sim.paper_store import SLOTS, PaperAccountStore, encode_file, read_latest
from quantum_trader.sim.persistence import SnapshotCache, snapshot, snapshot_text

HOUR_S = 3600
DAY_MS = 86_400_000


def reopened(folder: Path) -> tuple[ExchangeSimulator, PaperAccountStore]:
    """A new simulator (as a new process builds it) given the account saved in `folder`."""
    sim = make_sim()
    store = PaperAccountStore(folder)
    assert store.open(sim) is True
    return sim, store


def read_income(sim: ExchangeSimulator, start_ms: int = 0) -> list[BalanceUpdate]:
    """What a restarted bot reads: the adapter's income history (exchange/inprocess.py)."""
    return asyncio.run(InProcessExchange(sim).income(start_ms))


def test_income_rows_and_the_next_tran_id_survive_a_resume(tmp_path: Path) -> None:
    folder = tmp_path / "paper"
    sim = make_sim()
    store = PaperAccountStore(folder)
    assert store.open(sim) is False
    long(sim, "BNBUSDT", "2", "600")
    sim.transfer(D("-250"))
    sim.advance(8 * HOUR_S)  # a funding time: the long pays
    before = read_income(sim)
    ids_before = [r.tran_id for r in sim.state.income.records]
    assert [u.reason for u in before] == [TRANSFER, FUNDING_FEE] and len(ids_before) == 2
    store.close()

    sim, store = reopened(folder)
    assert read_income(sim) == before  # was: [] (the rows were not saved)
    sim.transfer(D("100"))
    ids_after = [r.tran_id for r in sim.state.income.records]
    assert ids_after[:2] == ids_before and ids_after[2] == ids_before[1] + 1  # was: FIRST_TRAN_ID again
    store.close()

    sim, store = reopened(folder)  # and once more: the row made after the first resume is on disk too
    assert [r.tran_id for r in sim.state.income.records] == ids_after
    assert [(u.reason, u.change) for u in read_income(sim)][-1] == (TRANSFER, D("100"))
    store.close()


def test_rows_older_than_binances_three_months_are_not_saved(tmp_path: Path) -> None:
    folder = tmp_path / "paper"
    sim = make_sim()
    store = PaperAccountStore(folder)
    store.open(sim)
    sim.transfer(D("-10"))
    old_id = sim.state.income.records[0].tran_id
    sim.advance(RETENTION_MS // 1000 + HOUR_S)  # past the retention, by less than the in-memory pruning's slack
    sim.transfer(D("20"))
    assert len(sim.state.income.records) == 2  # still in memory
    store.close()
    latest = read_latest(folder)
    assert latest is not None
    saved = latest[1]["income"]
    assert [row[3] for row in saved["rows"]] == [old_id + 1] and saved["next_tran_id"] == old_id + 2
    sim, store = reopened(folder)
    assert [(u.reason, u.change) for u in read_income(sim)] == [(TRANSFER, D("20"))]
    store.close()


def test_an_account_saved_before_income_was_kept_still_loads_with_an_empty_history(tmp_path: Path) -> None:
    old = make_sim()
    long(old, "BNBUSDT", "1", "600")
    data = json.loads(json.dumps(snapshot(old.state)))
    data.pop("income")  # the layout of an account saved by an earlier version
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / SLOTS[0]).write_bytes(encode_file(5, json.dumps(data)))
    sim, store = reopened(folder)
    assert sim.position("BNBUSDT").amount == D("1")
    assert sim.state.income.records == [] and sim.state.income.next_tran_id == FIRST_TRAN_ID
    sim.transfer(D("5"))
    assert [r.tran_id for r in sim.state.income.records] == [FIRST_TRAN_ID]
    store.close()


def test_the_saved_text_holds_the_income_rows_as_they_grow_and_age() -> None:
    """The text is built once per row and extended (a save per bar must not re-encode thousands of rows)."""
    sim = make_sim()
    long(sim, "BNBUSDT", "2", "600")
    cache = SnapshotCache()
    for day in range(100):  # past the three months: the oldest rows leave the saved text
        sim.advance(DAY_MS // 1000)
        if day % 7 == 0:
            sim.transfer(D("1"))
        assert json.loads(snapshot_text(sim.state, cache)) == json.loads(json.dumps(snapshot(sim.state)))
    rows = json.loads(snapshot_text(sim.state, cache))["income"]["rows"]
    assert len(rows) > 250 and rows[0][0] >= sim.now_ms - RETENTION_MS
