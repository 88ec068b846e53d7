"""The clock of `sim-server`'s paced feed: each bar is played when it reaches the bar's close.

On Binance a one-minute bar opening at T is in progress until T + 59,999 ms: its high, low and close are not
known before, and its kline is reported closed (`"x": true`) only then. The feed used to play a bar at its
open: a client saw the bar's whole range (and the simulator filled orders at its prices) up to a minute
before they happened, and every fill carried the bar's open, up to a minute before the order that made it.

`FeedPace` is the market's clock. It starts where the market stands when the pace applies (the simulator's
time: a replay's first paced bar, after its history), or, for a `live` feed (`sim-server --feed synthetic`),
at the server's clock, and runs `speed` times as fast as the server's clock from there; a `POST /sim/v1/clock`
shift moves it by the shift (one back at once, while the server's clock holds until it passes, clock_shift.py;
the simulator's time, which never goes back, stands meanwhile). So at `--speed 1` a live feed's clock is the
server's (`/fapi/v1/time`). The feed plays a bar when the clock reaches the bar's end (its close time + 1 ms);
until then the simulator's time follows the clock (`ServerState.catch_up`, at every request and stream round),
short of that end, so what it stamps (an order, a fill, an event's `E`) is never in the clock's future, and
never at a time whose bar has not been played yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from .routes_base import ServerState


def _base_ms(server: ServerState) -> tuple[int, int]:
    """The server's clock without its shift, and the shift (the clock a state built by hand has is unshifted)."""
    shift = server.clock_shift
    if shift is None:
        return server.clock(), 0
    return shift.base(), shift.offset_ms


@dataclass
class FeedPace:
    """The market's clock while a feed runs at `speed` (see the module's docstring)."""

    speed: float
    #: Starts at the server's clock (the synthetic market is "now"), not at the simulator's time.
    live: bool = False
    #: The end (close time + 1) of the bar waiting for its close; None while no bar waits (between the play of
    #: one and the fetch of the next, or with the feed stopped): the simulator's time then stays where it is.
    due_ms: int | None = None
    #: (market ms, the server's unshifted clock ms, its shift ms) where the pace started.
    _anchor: tuple[int, int, int] | None = None

    def begin(self, server: ServerState) -> None:
        """Start the clock here, once (the first bar played at the pace); the caller holds the server's lock."""
        if self._anchor is None:
            # A live market starts at the shifted clock, not at `server.clock()`: while a shift back holds that
            # (clock_shift.py), starting there ran the market ahead of it by the hold for good.
            base, shift = _base_ms(server)
            self._anchor = (base + shift if self.live else server.sim.now_ms, base, shift)

    def now_ms(self, server: ServerState) -> int:
        """Where the market's clock stands (its start before `begin`)."""
        anchor = self._anchor
        if anchor is None:
            return server.sim.now_ms
        market, base_then, shift_then = anchor
        base, shift = _base_ms(server)
        return market + int((base - base_then) * self.speed) + (shift - shift_then)

    def market_ms(self, server: ServerState) -> int | None:
        """The time the simulator may stand at now: the clock, short of the end of the bar not played yet."""
        due = self.due_ms
        if due is None or self._anchor is None:
            return None
        return min(self.now_ms(server), due - 1)

    def seconds_to(self, server: ServerState, end_ms: int) -> float:
        """Wall seconds until the clock reaches `end_ms` at this pace (0 when it has)."""
        return max(0.0, (end_ms - self.now_ms(server)) / 1000.0 / self.speed)
