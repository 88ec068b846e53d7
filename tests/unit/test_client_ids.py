"""Attempt numbers come from one allocator: they rise, skip ids still open, and continue after a restart."""

from __future__ import annotations

from quantum_trader.exchange.ids import client_id_for
from quantum_trader.trading.client_ids import AttemptAllocator


def test_attempts_rise_per_trade_and_purpose() -> None:
    ids = AttemptAllocator()
    assert [ids.next_id("T1", "sl") for _ in range(3)] == [client_id_for("T1", "sl", n) for n in range(3)]
    assert ids.next_id("T1", "tp") == client_id_for("T1", "tp", 0)
    assert ids.next_id("T2", "sl") == client_id_for("T2", "sl", 0)


def test_an_id_still_open_on_the_exchange_is_skipped() -> None:
    ids = AttemptAllocator()
    taken = {client_id_for("T1", "sl", 0), client_id_for("T1", "sl", 1)}
    assert ids.next_id("T1", "sl", taken=taken) == client_id_for("T1", "sl", 2)


def test_after_a_restart_attempts_start_above_what_the_journal_knows() -> None:
    ids = AttemptAllocator()
    ids.learn("T1", [client_id_for("T1", "sl", 4), client_id_for("T1", "entry", 0), "qt-OTHER-sl-9",
                     client_id_for("T10", "sl", 7), "not-an-id"])
    assert ids.next_id("T1", "sl") == client_id_for("T1", "sl", 5)
    assert ids.next_id("T1", "entry") == client_id_for("T1", "entry", 1)
    assert ids.next_id("T1", "tp") == client_id_for("T1", "tp", 0)


def test_hashed_trade_ids_are_learned_too() -> None:
    long_trade = "1000000BOBUSDT_" + "x" * 30  # too long for a client id: hashed by exchange/ids.py
    ids = AttemptAllocator()
    ids.learn(long_trade, [client_id_for(long_trade, "sl", 2)])
    assert ids.next_id(long_trade, "sl") == client_id_for(long_trade, "sl", 3)
