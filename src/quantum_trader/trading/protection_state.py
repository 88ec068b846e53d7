"""Each position's protection as the monitor knows it: a named phase, the transitions between phases,
and the few facts a phase needs to remember.

The monitor once kept this in a dozen dicts and sets spread over itself, its guard and its repairer,
with timing heuristics (an entry "just verified" recognised by its clock time and size). Here it is
one record per symbol whose phase changes only through `ProtectionBook.apply` and a table, like
orders (domain/orders.py), so every rule of the form "while X, do not Y" can be read in one place
and tested as a table:

- `PLACING`: execution has sent the entry and places SL and TP itself; the monitor keeps its hands
  off for `entry_grace_s` (after which the phase ends as if the entry had ended);
- `VERIFIED`: a working stop (and take-profit) was read back from the exchange;
- `UNPROTECTED`: no working stop was seen;
- `REPAIRING`: the monitor has just placed, replaced or cancelled protection; the next reading says
  whether it worked;
- `SOFTWARE_STOP_ARMED`: the mark is beyond the stop and the exchange stop has not fired; `since_ms`
  is when that was first seen, and after the grace period the monitor closes at market.

A symbol without a position has no record (`flat`), so nothing learned about one position leaks
into the next one on the same symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Phase(StrEnum):
    UNPROTECTED = "unprotected"
    PLACING = "placing"
    VERIFIED = "verified"
    REPAIRING = "repairing"
    SOFTWARE_STOP_ARMED = "software_stop_armed"


class Cause(StrEnum):
    ENTRY_SENT = "entry_sent"  # execution sent an entry for the symbol
    ENTRY_PROTECTED = "entry_protected"  # execution read back both SL and TP of the entry it opened
    ENTRY_ENDED = "entry_ended"  # the entry was refused, not sent, opened without both read back, or grace ran out
    FOUND_PROTECTED = "found_protected"  # a reading shows a working stop
    FOUND_NAKED = "found_naked"  # a reading shows no working stop
    REPAIRED = "repaired"  # the monitor changed protection orders on the exchange
    STOP_CROSSED = "stop_crossed"  # the mark is beyond the working stop, which has not fired


_P, _C = Phase, Cause
#: (phase, cause) → next phase. Complete: every pair is listed (test_protection_state checks it).
TRANSITIONS: dict[tuple[Phase, Cause], Phase] = {
    **{(phase, _C.ENTRY_SENT): _P.PLACING for phase in _P},
    **{(phase, _C.ENTRY_PROTECTED): _P.VERIFIED for phase in _P if phase is not _P.SOFTWARE_STOP_ARMED},
    (_P.SOFTWARE_STOP_ARMED, _C.ENTRY_PROTECTED): _P.SOFTWARE_STOP_ARMED,  # the crossing is newer news
    **{(phase, _C.ENTRY_ENDED): phase for phase in _P if phase is not _P.PLACING},
    (_P.PLACING, _C.ENTRY_ENDED): _P.UNPROTECTED,  # the next reading decides
    # While execution places protection, readings and repairs are not the monitor's business.
    **{(_P.PLACING, cause): _P.PLACING for cause in (_C.FOUND_PROTECTED, _C.FOUND_NAKED, _C.REPAIRED,
                                                     _C.STOP_CROSSED)},
    **{(phase, _C.FOUND_PROTECTED): _P.VERIFIED for phase in _P if phase is not _P.PLACING},
    **{(phase, _C.FOUND_NAKED): _P.UNPROTECTED for phase in _P if phase is not _P.PLACING},
    **{(phase, _C.REPAIRED): _P.REPAIRING for phase in _P if phase is not _P.PLACING},
    **{(phase, _C.STOP_CROSSED): _P.SOFTWARE_STOP_ARMED for phase in _P if phase is not _P.PLACING},
}


@dataclass
class Protection:
    """One position's protection record."""

    phase: Phase = Phase.UNPROTECTED
    #: When the current phase began (clock ms): the grace periods count from it.
    since_ms: int = 0
    #: VERIFIED by execution at entry: the size it protected (a position event of that size is no news).
    verified_size: Decimal | None = None
    #: While PLACING: the protection types execution has read back (STOP_MARKET, TAKE_PROFIT_MARKET).
    read_back: set[str] = field(default_factory=set)
    #: The (stop, take-profit) client ids last journaled as verified, so the journal says it once.
    noted: tuple[str, str] | None = None
    #: The level a trailed stop reached: a later replacement never goes back below it.
    trailed: Decimal | None = None
    #: A gateway that sends nothing declined the software stop: reported once, not every sweep.
    software_stop_declined: bool = False
    #: Repairs a gateway that sends nothing declined, reported as "would ..." once per plan.
    would: set[tuple[object, ...]] = field(default_factory=set)


class ProtectionBook:
    """The records of every symbol with a position, changed only through `apply` and `flat`."""

    def __init__(self) -> None:
        self._records: dict[str, Protection] = {}

    def __getitem__(self, symbol: str) -> Protection:
        record = self._records.get(symbol)
        if record is None:
            record = self._records[symbol] = Protection()
        return record

    def phase(self, symbol: str) -> Phase | None:
        record = self._records.get(symbol)
        return None if record is None else record.phase

    def phases(self) -> dict[str, Phase]:
        return {symbol: record.phase for symbol, record in sorted(self._records.items())}

    def apply(self, symbol: str, cause: Cause, now_ms: int) -> Phase:
        record = self[symbol]
        after = TRANSITIONS[(record.phase, cause)]
        if after is not record.phase:
            record.phase, record.since_ms, record.verified_size = after, now_ms, None
        if cause is Cause.ENTRY_SENT:  # a new entry: execution's grace and read-backs start again
            record.since_ms = now_ms
            record.read_back.clear()
        return after

    def flat(self, symbol: str) -> None:
        """The symbol has no position: everything learned about the last one is forgotten, except which
        cancellations (of orders left without a position) were already reported as "would cancel"."""
        record = self._records.pop(symbol, None)
        cancels = {plan for plan in record.would if plan[0] == "cancel"} if record is not None else set()
        if cancels:
            self._records[symbol] = Protection(would=cancels)

    def leaves_to_execution(self, symbol: str, now_ms: int, grace_ms: int) -> bool:
        """True while execution is placing this symbol's protection and its grace has not run out."""
        record = self._records.get(symbol)
        return record is not None and record.phase is Phase.PLACING and now_ms - record.since_ms < grace_ms

    def verified_at_entry(self, symbol: str, now_ms: int, size: Decimal) -> bool:
        """The position event of an entry execution protected and read back at this very moment."""
        record = self._records.get(symbol)
        return (record is not None and record.phase is Phase.VERIFIED and record.since_ms == now_ms
                and record.verified_size == size)
