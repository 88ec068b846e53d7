"""The server's clock, shiftable by hand: the chaos of a machine whose clock is off the exchange's.

Binance signs requests against its own clock (binance_futures.md §5.3), and a machine's clock drifts or steps
(no NTP, a suspended VM, an NTP correction). `POST /sim/v1/clock {"offset_ms": N}` (routes_control.py) moves
this server's time N ms from the clock it was built with, so a client 3 s fast (N = -3000) or 7 s slow
(N = 7000) meets exactly the -1021 refusals Binance would give it. Only the time requests are signed against,
`serverTime`, and the simulator's own time (which follows it) move: the IP's weight and order-rate windows
keep the unshifted clock, as those limits are not about whose clock is right.

An exchange's time never goes back, and the simulator's cannot: what it stamped (fills, order updates, funding)
would be in the future of a clock set back. A shift to an earlier offset therefore holds the clock where it
stood until the shifted clock passes it (`hold_ms`), then runs on at the new offset. It used to jump back
at once: `/fapi/v1/time` then stood behind the simulator, whose fills and events carried times up to the
shift ahead of the server time a client read right after them.
"""

from __future__ import annotations

from collections.abc import Callable

#: A shift of more than a day is a typo, not a clock.
MAX_OFFSET_MS = 86_400_000


class ShiftedClock:
    """`base()` plus `offset_ms` (0 until a test or the chaos campaign sets it), never behind where a shift
    found it (`shift_to`)."""

    def __init__(self, base: Callable[[], int]) -> None:
        self.base = base
        self.offset_ms = 0
        #: The time the clock stood at when it was last shifted back: it reads no earlier until it passes it.
        self.floor_ms = 0

    def __call__(self) -> int:
        return max(self.base() + self.offset_ms, self.floor_ms)

    def shift_to(self, offset_ms: int) -> None:
        """The clock `offset_ms` from its base from now on; set back, it holds where it stands until then."""
        self.floor_ms = max(self.floor_ms, self())
        self.offset_ms = offset_ms

    def hold_ms(self) -> int:
        """How long (ms) the clock still stands still after a shift back before it runs at `offset_ms`."""
        return max(0, self.floor_ms - (self.base() + self.offset_ms))
