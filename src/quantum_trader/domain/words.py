"""Small pieces of the words a user reads, shared by the layers that write them (one way to say a list)."""

from __future__ import annotations

from collections.abc import Sequence

#: Items named before `+N more`.
SHOWN = 5


def listed(items: Sequence[str], shown: int = SHOWN) -> str:
    """"A, B, C +2 more": the first `shown` items, then how many are left out (a line must stay a line when the
    list is 222 symbols long)."""
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" +{more} more" if more > 0 else "")
