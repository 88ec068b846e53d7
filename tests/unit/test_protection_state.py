"""The protection phases of one position, as a table: every (phase, cause) pair has one answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.trading.protection_state import TRANSITIONS, Cause, Phase, ProtectionBook

P, C = Phase, Cause


def test_the_table_is_complete() -> None:
    assert set(TRANSITIONS) == {(phase, cause) for phase in Phase for cause in Cause}


@pytest.mark.parametrize(("before", "cause", "after"), [
    (P.UNPROTECTED, C.ENTRY_SENT, P.PLACING),
    (P.VERIFIED, C.ENTRY_SENT, P.PLACING),
    (P.PLACING, C.ENTRY_PROTECTED, P.VERIFIED),
    (P.PLACING, C.ENTRY_ENDED, P.UNPROTECTED),
    (P.VERIFIED, C.ENTRY_ENDED, P.VERIFIED),  # a late refusal of another entry changes nothing
    (P.PLACING, C.FOUND_NAKED, P.PLACING),  # execution is placing: a reading in between is no verdict
    (P.PLACING, C.REPAIRED, P.PLACING),
    (P.PLACING, C.STOP_CROSSED, P.PLACING),
    (P.UNPROTECTED, C.FOUND_PROTECTED, P.VERIFIED),
    (P.VERIFIED, C.FOUND_NAKED, P.UNPROTECTED),  # a stop cancelled by hand
    (P.UNPROTECTED, C.REPAIRED, P.REPAIRING),
    (P.REPAIRING, C.FOUND_PROTECTED, P.VERIFIED),
    (P.REPAIRING, C.FOUND_NAKED, P.UNPROTECTED),
    (P.VERIFIED, C.STOP_CROSSED, P.SOFTWARE_STOP_ARMED),
    (P.SOFTWARE_STOP_ARMED, C.STOP_CROSSED, P.SOFTWARE_STOP_ARMED),
    (P.SOFTWARE_STOP_ARMED, C.FOUND_PROTECTED, P.VERIFIED),  # the mark came back inside the stop
    (P.SOFTWARE_STOP_ARMED, C.REPAIRED, P.REPAIRING),  # the software stop closed at market
    (P.SOFTWARE_STOP_ARMED, C.ENTRY_PROTECTED, P.SOFTWARE_STOP_ARMED),
])
def test_transition(before: Phase, cause: Cause, after: Phase) -> None:
    assert TRANSITIONS[(before, cause)] is after


def test_since_counts_from_the_first_crossing_not_from_every_sweep() -> None:
    book = ProtectionBook()
    book.apply("BNBUSDT", C.FOUND_PROTECTED, 1_000)
    book.apply("BNBUSDT", C.STOP_CROSSED, 2_000)
    book.apply("BNBUSDT", C.STOP_CROSSED, 3_000)
    assert (book["BNBUSDT"].phase, book["BNBUSDT"].since_ms) == (P.SOFTWARE_STOP_ARMED, 2_000)
    book.apply("BNBUSDT", C.FOUND_PROTECTED, 4_000)
    book.apply("BNBUSDT", C.STOP_CROSSED, 5_000)
    assert book["BNBUSDT"].since_ms == 5_000  # a new crossing starts a new grace


def test_execution_keeps_the_position_for_its_grace_only() -> None:
    book = ProtectionBook()
    book.apply("BNBUSDT", C.ENTRY_SENT, 10_000)
    assert book.leaves_to_execution("BNBUSDT", 14_999, 5_000)
    assert not book.leaves_to_execution("BNBUSDT", 15_000, 5_000)
    assert not book.leaves_to_execution("ETHUSDT", 10_000, 5_000)


def test_a_second_entry_restarts_the_grace_and_forgets_earlier_read_backs() -> None:
    book = ProtectionBook()
    book.apply("BNBUSDT", C.ENTRY_SENT, 1_000)
    book["BNBUSDT"].read_back.add("STOP_MARKET")
    book.apply("BNBUSDT", C.ENTRY_SENT, 9_000)
    assert (book["BNBUSDT"].since_ms, book["BNBUSDT"].read_back) == (9_000, set())


def test_verified_at_entry_is_that_moment_and_that_size_only() -> None:
    book = ProtectionBook()
    book.apply("BNBUSDT", C.ENTRY_SENT, 1_000)
    book.apply("BNBUSDT", C.ENTRY_PROTECTED, 1_200)
    book["BNBUSDT"].verified_size = Decimal("1.5")
    assert book.verified_at_entry("BNBUSDT", 1_200, Decimal("1.5"))
    assert not book.verified_at_entry("BNBUSDT", 1_201, Decimal("1.5"))
    assert not book.verified_at_entry("BNBUSDT", 1_200, Decimal("3"))


def test_flat_forgets_the_position_but_not_reported_would_cancels() -> None:
    book = ProtectionBook()
    book.apply("BNBUSDT", C.FOUND_PROTECTED, 1_000)
    record = book["BNBUSDT"]
    record.trailed = Decimal("590")
    record.would.update({("cancel", "qt-x-sl-0"), ("place", "STOP_MARKET")})
    book.flat("BNBUSDT")
    fresh = book["BNBUSDT"]
    assert (fresh.phase, fresh.trailed, fresh.would) == (P.UNPROTECTED, None, {("cancel", "qt-x-sl-0")})
    book.flat("ETHUSDT")  # never seen: nothing to forget
    assert book.phase("ETHUSDT") is None
