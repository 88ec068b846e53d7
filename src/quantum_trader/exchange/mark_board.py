"""The marks the market stream delivered, kept where a URL adapter answers `mark_since` from them.

Why: the live bar feed (feeds/live_feed.py) hears every symbol's mark each second on its heartbeat stream
(`!markPrice@arr@1s`), each stamped with the exchange's event time `E`. A component that needs a recent mark
(the stop witness: the first mark after a stop fired) can take it from here, at once and without spending
request weight, instead of asking `GET /fapi/v1/premiumIndex`. The feed writes, the adapter reads (the session
hands both the same board: runtime/parts.py); a session without the exchange feed leaves it empty, and the
adapter then holds no mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from ..domain.exchange_types import HeldMark


class MarkBoard:
    """The newest streamed mark per symbol, with its exchange time; an older message never replaces a newer one."""

    def __init__(self) -> None:
        self._held: dict[str, HeldMark] = {}

    def put(self, symbol: str, price: Decimal, time_ms: int) -> None:
        held = self._held.get(symbol)
        if held is None or time_ms >= held.time_ms:
            self._held[symbol] = HeldMark(price, time_ms)

    def since(self, symbol: str, since_ms: int) -> HeldMark | None:
        """The symbol's mark if it is stamped later than `since_ms` (0: any), else None."""
        held = self._held.get(symbol)
        return held if held is not None and held.time_ms > since_ms else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)
