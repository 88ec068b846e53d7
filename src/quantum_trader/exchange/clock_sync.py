"""Signed requests carry the exchange's time, learnt when Binance refuses the machine's (-1021).

Binance accepts a signed request only if its `timestamp` is less than 1 s ahead of the server's clock
and at most `recvWindow` (5 s here) behind it (binance_futures.md §5.3). A machine whose clock is a
second fast, or five seconds slow (a VPS without NTP, a suspended laptop, an NTP step), has every order,
cancellation and reading refused with -1021: on the live path that is a position whose stop cannot be
placed or repaired. ccxt can sign with an offset (`options["timeDifference"]`, subtracted from the
machine's milliseconds); `ExchangeClock` measures it from `GET /fapi/v1/time` (weight 1) the first time
a request is refused for its timestamp, and again whenever one is refused later (the machine's clock
moved), and the adapter then sends the refused request once more. Binance refuses such a request before
it is processed, so sending it again cannot place an order twice.

The offset is measured, not assumed: it is the machine's time when the answer arrived minus the server's
time in it (ccxt's own `load_time_difference` rule), so a request signed just after carries at most the
one-way latency of lag, well inside the window. A machine more than `LOUD_OFFSET_MS` off is logged as a
warning that names the fix (sync the clock); the offset is also shown on /health (`exchange_clock`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..core.loggers import get_logger

#: Binance's code for a timestamp outside the window (ahead by 1 s or more, or older than recvWindow).
TIMESTAMP_REFUSED = -1021
#: An offset at least this large is worth a warning: requests then work only thanks to the correction.
LOUD_OFFSET_MS = 500

log = get_logger(__name__)


@dataclass
class ClockReading:
    """What /health shows: the last measured offset (machine minus exchange, ms) and how often it was measured."""

    offset_ms: int = 0
    measurements: int = 0
    measured_at_ms: int | None = None

    def as_health(self) -> dict[str, Any]:
        return {"offset_ms": self.offset_ms, "measurements": self.measurements,
                "measured_at_ms": self.measured_at_ms}


class ExchangeClock:
    """Keeps a ccxt client's `timeDifference` equal to the measured offset between this machine and the exchange."""

    def __init__(self, client: Any, server_time: Callable[[], Awaitable[Any]],
                 reading: ClockReading | None = None) -> None:
        """`server_time`: a budgeted call of `GET /fapi/v1/time` returning Binance's `{"serverTime": ms}`;
        `reading`: where the measurements go (the session shows the same object on /health)."""
        self._client = client
        self._server_time = server_time
        self.reading = reading if reading is not None else ClockReading()

    async def follow(self) -> int:
        """Measure the offset again and sign with it from now on; returns it (ms, machine minus exchange)."""
        answer = await self._server_time()
        arrived_ms = int(time.time() * 1000)
        offset = arrived_ms - int(answer["serverTime"])
        self._client.options["timeDifference"] = offset
        self.reading.offset_ms, self.reading.measured_at_ms = offset, arrived_ms
        self.reading.measurements += 1
        if abs(offset) >= LOUD_OFFSET_MS:
            log.warning("this machine's clock is off the exchange's: signed requests now carry the exchange's time",
                        offset_ms=offset, fix="sync the system clock (NTP: timedatectl set-ntp true, or chrony)")
        else:
            log.info("signed requests follow the exchange's clock", offset_ms=offset)
        return offset
