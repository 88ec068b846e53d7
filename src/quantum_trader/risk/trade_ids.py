"""Trade ids that never collide: `<SYMBOL>_<tag>_<n>`, e.g. `BNBUSDT_3_12` (the 12th trade of session 3).

A trade id names a trade in the journal and, through `exchange/ids.py`, every order the trade sends
(`qt-<trade>-<purpose>-<attempt>`). The old id, symbol plus second, repeated itself whenever two
trades on one symbol began within a second (force-entry, kill switch, resume, force-entry) or a
restarted session replayed the same bars: the second trade's orders then reused the first one's
client ids and the journal merged the two. Here an id is a tag unique to the run plus a counter:

- `tag`: in a session, its number in the journal (`sessions.id`, base 36), which the journal makes
  unique across restarts; without a journal (backtests, tests, the chaos harness), the clock's second
  when the engine was wired, base 36. Both are deterministic for a given run: a backtest over the
  same data gives the same ids, so the same event log. The two kinds cannot meet: a clock tag has six
  base-36 digits, which a session number reaches only after sixty million sessions.
- `n`: a counter per allocator, shared by every kind of id, so ids are ordered as they were given.
- `kind`: an optional letter before `n` that says who made the id (`k` kill switch, `x` a position
  opened outside the bot), e.g. `BNBUSDT_3_k13`.

At start the allocator is told the ids the journal already holds with its tag and skips them, so
even a reused tag (a journal restored from a backup, two bots on one journal) cannot repeat an id.
Ids stay within the room a client id leaves for its trade (`TRADE_ROOM`), so they stay readable in
the exchange's order list instead of being hashed: a session's for symbols of up to 14 characters and
99,999 trades, a clock-tagged run's for up to 12 characters (a longer one is hashed: still unique).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

#: Characters a trade id may use inside a Binance client id (no "-": it separates the id's parts).
_ID_OK = re.compile(r"^[A-Za-z0-9_.:/]+\Z")
_KIND_OK = re.compile(r"^[a-z]?\Z")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
#: Room a trade id has in `qt-<trade>-entry-0` before exchange/ids.py replaces it by a hash.
TRADE_ROOM = 25


def base36(value: int) -> str:
    """`value` (>= 0) in lower-case base 36: short and safe inside a client id."""
    if value < 0:
        raise ValueError(f"base36: {value} must be >= 0")
    out = ""
    while True:
        value, digit = divmod(value, 36)
        out = _DIGITS[digit] + out
        if value == 0:
            return out


def session_tag(session_id: int) -> str:
    """The tag of a journaled session: its number, which the journal never gives twice."""
    return base36(session_id)


def clock_tag(now_ms: int) -> str:
    """The tag of a run without a journal: the second it was wired at, on its own (injected) clock."""
    return base36(now_ms // 1000)


class TradeIds:
    """Gives out trade ids that are unique for the tag and never one of `taken`."""

    def __init__(self, tag: str, *, taken: Iterable[str] = ()) -> None:
        if not tag or not _ID_OK.match(tag) or "_" in tag:
            raise ValueError(f"tag: {tag!r} must be letters and digits")
        self.tag = tag
        self._taken = set(taken)
        self._n = 0

    @classmethod
    def from_clock(cls, now_ms: int) -> TradeIds:
        """The default for engines without a journal (backtests, tests, chaos): deterministic per run."""
        return cls(clock_tag(now_ms))

    @classmethod
    def for_session(cls, session_id: int, known: Callable[[str], Iterable[str]]) -> TradeIds:
        """A journaled session's allocator; `known(tag)` answers the ids the journal already holds with it."""
        tag = session_tag(session_id)
        return cls(tag, taken=known(tag))

    @property
    def issued(self) -> int:
        """How many ids this allocator has given out (skipped ones included)."""
        return self._n

    def next(self, symbol: str, kind: str = "") -> str:
        """A new id for a trade on `symbol`; `kind` is one lower-case letter saying who asked (or none)."""
        if not _KIND_OK.match(kind):
            raise ValueError(f"kind: {kind!r} must be one lower-case letter or empty")
        if not symbol or not _ID_OK.match(symbol):
            raise ValueError(f"symbol: {symbol!r} cannot be part of a client id")
        while True:
            self._n += 1
            trade_id = f"{symbol}_{self.tag}_{kind}{self._n}"
            if trade_id not in self._taken:  # a counter never repeats itself: only the journal's ids can clash
                return trade_id

    def next_kill(self, symbol: str) -> str:
        """The id under which the kill switch closes a position it knows no trade for (`<SYMBOL>_<tag>_k<n>`)."""
        return self.next(symbol, "k")
