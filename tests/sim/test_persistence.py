"""The paper account on disk: snapshot → restore gives the same simulator, saves happen after every change,
and no crash or damaged file can leave an account that cannot be read.

The "same simulator" check is behavioural, not only structural: after a restore, the original and the
restored simulator are fed the same further inputs and must write the same event log (fills at the same
prices through the same volatility-shaped book, the same generated client ids from the same random state,
the same funding).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from conftest import LOT_TEST, algo, limit, long, make_sim, market, px, rejects, short

from quantum_trader.domain.enums import MarginType
from quantum_trader.sim import events as ev
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.paper_store import (
    ACCOUNT_ID,
    FILES,
    PRICES,
    SLOTS,
    PaperAccountInUse,
    PaperAccountStore,
    erase,
    read_latest,
    read_slots,
)
from quantum_trader.sim.persistence import (
    KEEP_FINISHED,
    PaperStateError,
    SnapshotCache,
    restore,
    snapshot,
    snapshot_text,
)

OTHER_PRICES = {"BNBUSDT": "500", "BTCUSDT": "90000", "ETHUSDT": "2000", LOT_TEST: "500"}


def busy_sim() -> ExchangeSimulator:
    """Every kind of state: cross and isolated positions, SL/TP/trailing algos, a resting limit, a cancelled
    and a triggered order, generated client ids, mark apart from last, funding paid, leverage changed."""
    sim = make_sim()
    sim.set_leverage("BNBUSDT", 10)
    long(sim, "BNBUSDT", "2", "600")
    algo(sim, side="SELL", triggerPrice="585", closePosition=True, workingType="MARK_PRICE", priceProtect=True,
         newClientOrderId="bnb-sl")
    algo(sim, side="SELL", type="TAKE_PROFIT_MARKET", triggerPrice="630", closePosition=True, newClientOrderId="bnb-tp")
    sim.set_margin_type("ETHUSDT", MarginType.ISOLATED)
    short(sim, "ETHUSDT", "0.5", "2500")
    algo(sim, symbol="ETHUSDT", side="BUY", type="TRAILING_STOP_MARKET", quantity="0.5", callbackRate="1",
         reduceOnly=True)
    limit(sim, "BUY", "0.01", "95000", symbol="BTCUSDT")
    cancelled = limit(sim, "BUY", "0.01", "94000", symbol="BTCUSDT")
    sim.cancel_order("BTCUSDT", order_id=cancelled.order_id)
    long(sim, LOT_TEST, "0.1", "600")
    algo(sim, symbol=LOT_TEST, side="SELL", type="STOP", quantity="0.1", triggerPrice="599", price="600",
         reduceOnly=True)
    px(sim, LOT_TEST, "598.5")  # triggers the stop-limit: its LIMIT rests unfilled above the market
    px(sim, "ETHUSDT", "2480", mark="2481.5")
    sim.advance(8 * 3600)
    return sim


def further_inputs(sim: ExchangeSimulator) -> str:
    """The same later life for both simulators; returns its event log."""
    start = len(sim.events)
    px(sim, "BNBUSDT", "610")
    market(sim, "BUY", "0.5")  # no client id: one is generated from the random state
    px(sim, "ETHUSDT", "2400")
    px(sim, "ETHUSDT", "2440", mark="2439")  # the trailing stop fires off its extreme
    px(sim, "BTCUSDT", "94900")  # the resting limit fills
    sim.apply_bar("BNBUSDT", D("600"), D("601"), D("570"), D("575"))
    sim.advance(8 * 3600)
    limit(sim, "SELL", "0.1", "700", symbol=LOT_TEST)
    return ev.render_log(sim.events[start:])


def public_view(sim: ExchangeSimulator) -> dict[str, Any]:
    """What a client sees, read through the facade (not through the snapshot code under test)."""
    return {
        "positions": sorted((p.symbol, p.position_side.value, p.amount, p.entry_price, p.isolated_wallet, p.leverage,
                             p.margin_type.value) for p in sim.account.open_positions()),
        "orders": [(o.order_id, o.client_order_id, o.status.value, o.price, o.orig_qty) for o in sim.open_orders()],
        "algos": [(a.algo_id, a.client_algo_id, a.order_type.value, a.status.value, a.trigger_price, a.trail_extreme)
                  for a in sim.open_algo_orders()],
        "wallet": sim.wallet_balance, "equity": sim.equity, "available": sim.available_balance(),
        "fees": sim.account.total_fees, "funding": sim.account.total_funding,
        "prices": {s: (sim.last_price(s), sim.mark_price(s)) for s in sorted(sim.state.instruments)},
        "ids": (sim.state.next_order_id, sim.state.next_algo_id, sim.state.next_trade_id),
        "now": sim.now_ms, "leverage": sim.account.leverage_of("BNBUSDT"),
    }


def restored_copy(sim: ExchangeSimulator) -> ExchangeSimulator:
    """A fresh simulator at other prices and seed, then the snapshot through JSON text (as on disk)."""
    copy = make_sim(prices=OTHER_PRICES, seed=99)
    restore(copy.state, json.loads(json.dumps(snapshot(sim.state))))
    return copy


def test_restore_gives_the_same_account_orders_prices_and_ids() -> None:
    sim = busy_sim()
    copy = restored_copy(sim)
    assert public_view(copy) == public_view(sim)
    assert snapshot(copy.state) == snapshot(sim.state)
    view = public_view(sim)
    assert view["funding"] != 0 and len(view["positions"]) == 3 and len(view["algos"]) == 3
    assert {a[3] for a in view["algos"]} == {"NEW"} and [o[2] for o in view["orders"]] == ["NEW", "NEW"]


def test_restored_simulator_behaves_exactly_like_the_original() -> None:
    sim = busy_sim()
    copy = restored_copy(sim)
    log = further_inputs(sim)
    assert further_inputs(copy) == log
    assert public_view(copy) == public_view(sim)
    assert "TRAILING_STOP_MARKET" in log and "FUNDING_FEE" in log and log.count("TRADE") >= 3


def test_a_fresh_state_differs_so_the_comparison_can_fail() -> None:
    sim = busy_sim()
    other = make_sim(prices=OTHER_PRICES, seed=99)
    assert public_view(other) != public_view(sim)
    assert further_inputs(make_sim()) != further_inputs(sim)


def test_the_saved_text_is_the_snapshot_even_with_finished_orders_cached_across_saves() -> None:
    sim = busy_sim()
    cache = SnapshotCache()
    for round_ in range(KEEP_FINISHED + 5):  # more finished orders than a snapshot keeps
        assert json.loads(snapshot_text(sim.state, cache)) == json.loads(json.dumps(snapshot(sim.state)))
        market(sim, "BUY" if round_ % 2 else "SELL", "0.01", "BTCUSDT")
    finished = [o for o in snapshot(sim.state)["orders"] if o["status"] not in ("NEW", "PARTIALLY_FILLED")]
    assert len(finished) == KEEP_FINISHED and finished[-1]["order_id"] == sim.state.next_order_id - 1


def test_a_symbol_outside_todays_list_is_loaded_from_the_universe() -> None:
    sim = make_sim()
    long(sim, "ETHUSDT", "0.1", "2500")
    from quantum_trader.sim.universe import load_universe

    narrow = ExchangeSimulator({"BNBUSDT": load_universe().instrument("BNBUSDT")})
    restore(narrow.state, snapshot(sim.state))
    assert narrow.position("ETHUSDT").amount == D("0.1")


def test_a_snapshot_from_another_version_or_malformed_is_refused() -> None:
    data = snapshot(make_sim().state)
    with pytest.raises(PaperStateError, match="schema"):
        restore(make_sim().state, {**data, "schema": 999})
    with pytest.raises(PaperStateError, match="malformed"):
        restore(make_sim().state, {**data, "account": {"wallet_balance": "x"}})


# --- the store: a save after every change -------------------------------------------------------------


def test_every_change_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    sim = make_sim()
    store = PaperAccountStore(tmp_path)
    assert store.open(sim) is False  # nothing saved yet: this account becomes the saved one
    steps = [lambda: long(sim, "BNBUSDT", "1", "600"),
             lambda: algo(sim, side="SELL", triggerPrice="590", closePosition=True),
             lambda: sim.set_leverage("BTCUSDT", 7),
             lambda: sim.set_margin_type("BTCUSDT", "ISOLATED"),
             lambda: px(sim, "BNBUSDT", "605"),
             lambda: sim.apply_bar("ETHUSDT", D("2500"), D("2510"), D("2490"),
                                   D("2505")),
             lambda: sim.advance(3600),
             lambda: sim.cancel_all_algo_orders("BNBUSDT")]
    for step in steps:
        step()
        latest = read_latest(tmp_path)
        assert latest is not None
        assert latest[1] == json.loads(json.dumps(snapshot(sim.state)))
    store.close()
    reopened = make_sim(prices=OTHER_PRICES)
    second = PaperAccountStore(tmp_path)
    assert second.open(reopened) is True
    assert public_view(reopened) == public_view(sim)
    second.close()


def test_a_refused_order_is_saved_too_and_changes_nothing(tmp_path: Path) -> None:
    sim = make_sim()
    store = PaperAccountStore(tmp_path)
    store.open(sim)
    before = read_latest(tmp_path)
    rejects(lambda: algo(sim, side="SELL", triggerPrice="590", quantity="1", reduceOnly=True), -2022)
    after = read_latest(tmp_path)
    assert before is not None and after is not None and after[0] > before[0]
    assert {k: v for k, v in after[1].items() if k != "rng"} == {k: v for k, v in before[1].items() if k != "rng"}
    store.close()


def test_in_an_event_loop_a_bar_of_prices_is_one_save_and_a_fill_is_saved_at_once(tmp_path: Path) -> None:
    sim = make_sim()
    store = PaperAccountStore(tmp_path)
    store.open(sim)
    long(sim, "BNBUSDT", "1", "600")
    algo(sim, side="SELL", triggerPrice="590", closePosition=True)

    async def bars() -> tuple[int, int, int]:
        first = store.saves
        for symbol, price in (("BTCUSDT", "100100"), ("ETHUSDT", "2501"), ("BNBUSDT", "601")):
            px(sim, symbol, price)
        held = store.saves  # prices only: not yet saved...
        await asyncio.sleep(0)
        once = store.saves  # ...saved once on the loop's next turn
        px(sim, "BNBUSDT", "580")  # the stop fills: saved before the call returns
        return first, held, once

    first, held, once = asyncio.run(bars())
    assert (held, once) == (first, first + 1)
    saved = read_latest(tmp_path)
    assert saved is not None and saved[1]["account"]["positions"] == []
    assert saved[1]["algos"][-1]["status"] == "FINISHED"
    store.close()


def test_a_clean_stop_saves_pending_prices_and_releases_the_lock(tmp_path: Path) -> None:
    sim = make_sim()
    store = PaperAccountStore(tmp_path)
    store.open(sim)

    async def move() -> None:
        px(sim, "BTCUSDT", "123456")
        sim.detach_listener()  # what InProcessExchange.close() does at the end of a session

    asyncio.run(move())
    saved = read_latest(tmp_path)
    assert saved is not None and saved[1]["markets"]["BTCUSDT"] == ["123456", "123456"]
    again = PaperAccountStore(tmp_path)
    assert again.open(make_sim()) is True
    again.close()


def test_one_account_one_process(tmp_path: Path) -> None:
    store = PaperAccountStore(tmp_path)
    store.open(make_sim())
    with pytest.raises(PaperAccountInUse):
        PaperAccountStore(tmp_path).open(make_sim())
    with pytest.raises(PaperAccountInUse):
        erase(tmp_path)
    store.close()
    # one save so far, the fresh account, and its id (the journal tells its sessions from the next account's by it)
    assert sorted(p.name for p in erase(tmp_path)) == sorted([ACCOUNT_ID, SLOTS[0]])
    assert read_latest(tmp_path) is None


# --- damaged files ----------------------------------------------------------------------------------


def _two_saves(tmp_path: Path) -> tuple[ExchangeSimulator, dict[str, Any]]:
    """An account whose newest file holds a BNB position (an account save) and an older one the state
    just before it (a prices-only save)."""
    sim = make_sim()
    store = PaperAccountStore(tmp_path)
    store.open(sim)
    px(sim, "BNBUSDT", "600")
    previous = json.loads(json.dumps(snapshot(sim.state)))
    market(sim, "BUY", "1")
    store.close()
    return sim, previous


def _newest(tmp_path: Path) -> Path:
    found, _ = read_slots(tmp_path)
    return tmp_path / max(found, key=lambda name: found[name][0])


def test_account_saves_alternate_between_two_flushed_files_and_prices_have_their_own(tmp_path: Path) -> None:
    sim = make_sim()
    store = PaperAccountStore(tmp_path)
    store.open(sim)
    written = []
    for step in (lambda: px(sim, "BNBUSDT", "601"), lambda: market(sim, "BUY", "1"), lambda: px(sim, "BNBUSDT", "602"),
                 lambda: market(sim, "SELL", "1"), lambda: sim.set_leverage("BNBUSDT", 3)):
        step()
        written.append(_newest(tmp_path).name)
    assert written == [PRICES, SLOTS[1], PRICES, SLOTS[0], SLOTS[1]]
    store.close()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_a_damaged_newest_file_falls_back_to_the_previous_good_state(tmp_path: Path, damage: str) -> None:
    _, previous = _two_saves(tmp_path)
    newest = _newest(tmp_path)
    raw = newest.read_bytes()
    newest.write_bytes({"truncate": raw[: len(raw) * 2 // 3], "flip": raw[:-40] + b"9" + raw[-39:],
                        "empty": b"", "garbage": b"\x00\xff not json"}[damage])
    latest = read_latest(tmp_path)
    assert latest is not None and latest[1] == previous
    sim = make_sim(prices=OTHER_PRICES)
    store = PaperAccountStore(tmp_path)
    assert store.open(sim) is True and sim.position("BNBUSDT").amount == 0
    good = tmp_path / SLOTS[0]
    kept = good.read_bytes()
    market(sim, "BUY", "1")  # the next account save replaces the damaged file; the good one stays as it was
    assert _newest(tmp_path) == newest and good.read_bytes() == kept
    store.close()


def test_no_readable_slot_is_a_clear_error_never_a_silent_fresh_account(tmp_path: Path) -> None:
    _two_saves(tmp_path)
    for name in FILES:
        (tmp_path / name).write_bytes(b'{"format": "quantum-trader paper account", "schema": 1, "seq": 3')
    with pytest.raises(PaperStateError, match=r"cannot be read.*paper-reset"):
        PaperAccountStore(tmp_path).open(make_sim())
    assert len(erase(tmp_path)) == 4  # the failed open released the lock (3 saves and the account's id)


def test_a_half_written_temporary_file_is_ignored(tmp_path: Path) -> None:
    sim, _ = _two_saves(tmp_path)
    for name in FILES:
        (tmp_path / (name + ".tmp")).write_bytes(b'{"format": "quantum-trader paper acc')
    reopened = make_sim()
    store = PaperAccountStore(tmp_path)
    assert store.open(reopened) is True
    assert public_view(reopened) == public_view(sim)
    store.close()


def test_a_save_caught_between_unlink_and_rename_is_not_lost(tmp_path: Path) -> None:
    """`write_slot` unlinks the old file, then renames the whole temporary file: killed in between, the
    temporary file is the newest save and is the one opened."""
    sim, _ = _two_saves(tmp_path)
    newest = _newest(tmp_path)
    newest.rename(newest.with_name(newest.name + ".tmp"))  # exactly what a kill between the two steps leaves
    reopened = make_sim()
    store = PaperAccountStore(tmp_path)
    assert store.open(reopened) is True
    assert public_view(reopened) == public_view(sim) and reopened.position("BNBUSDT").amount == 1
    market(reopened, "SELL", "1")  # the next account save goes to the other slot: the rescued one stays
    found, _ = read_slots(tmp_path)
    assert _newest(tmp_path) == tmp_path / SLOTS[0] and newest.name + ".tmp" in found
    store.close()


_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from conftest import make_sim, market, px
    from quantum_trader.sim.paper_store import PaperAccountStore
    sim = make_sim()
    store = PaperAccountStore(sys.argv[1])
    store.open(sim)
    price = 600
    while True:
        price = 600 + (price - 599) % 50
        px(sim, "BNBUSDT", str(price))  # no event loop: each step is saved before the call returns
        if price % 5 == 0:
            market(sim, "BUY" if price % 10 else "SELL", "0.1")  # an account save (fsync, slots a/b)
        print(store._seq, price, flush=True)
""")


def test_kill_9_at_random_moments_never_leaves_an_unreadable_account(tmp_path: Path) -> None:
    """A real process saving as fast as it can, killed at seeded random moments: the account always opens,
    at or after the last save the writer reported finished."""
    rng = random.Random(9)
    folder = tmp_path / "account"
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), str(Path(__file__).parent)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # running and saving
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        lines = proc.stdout.read().splitlines()
        proc.wait()
        reported = int(lines[-1].split()[0]) if lines else 0
        latest = read_latest(folder)
        assert latest is not None and latest[0] >= reported
        sim = make_sim()
        store = PaperAccountStore(folder)
        assert store.open(sim) is True
        assert str(sim.last_price("BNBUSDT")) == latest[1]["markets"]["BNBUSDT"][0]
        store.close()


def test_an_order_saved_by_an_older_or_newer_version_still_loads() -> None:
    sim = busy_sim()
    data = json.loads(json.dumps(snapshot(sim.state)))
    for row in data["algos"]:
        row.pop("trail_activated")  # a field this file predates: its default
        row["a_field_from_the_future"] = 1  # a field this version does not know: dropped
    copy = make_sim()
    restore(copy.state, data)
    assert [a.algo_id for a in copy.open_algo_orders()] == [a.algo_id for a in sim.open_algo_orders()]
    assert all(a.trail_activated is False for a in copy.state.algos.values())
