"""What the monitor knows about itself: sweep counts and errors for `/health`, and how long each
position has gone without a working stop, measured on the injected clock (so a backtest measures
simulated seconds) and exported to `/metrics`, where an alert should fire on it. A stretch without a stop
that lasted `NOTICE_S` or more is logged when it ends, with its length: the last line of an outage (the
failures were logged as they happened: trading/protection_outage.py), so an operator reads how long the
position was exposed without adding up timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.clock import Clock
from ..core.loggers import get_logger
from ..core.monitor_metrics import MonitorMetrics
from ..domain.exchange_types import OrderSnapshot, PositionSnapshot
from .monitor_rules import has_working_stop
from .protection_view import ProtectionView

log = get_logger(__name__)
#: A stretch without a working stop this long (seconds) or longer is logged when it ends; shorter ones (an entry
#: read between its fill and its stop, milliseconds) are only counted.
NOTICE_S = 1.0


@dataclass
class MonitorState:
    sweeps: int = 0
    errors: int = 0
    last_sweep_monotonic: float | None = None
    last_duration_s: float = 0.0
    view: ProtectionView | None = None
    unprotected_since_ms: dict[str, int] = field(default_factory=dict)
    unprotected_seconds_total: float = 0.0
    #: Symbol runs in which the monitor changed something on the exchange.
    actions: int = 0
    #: The last sweep that read the exchange over REST, and sweeps that skipped it for the request budget.
    last_rest_monotonic: float | None = None
    rest_skipped: int = 0
    #: Sweeps that judged the stream-fed view (no reading due, or the budget refused it).
    stream_sweeps: int = 0

    def skip_rest(self, refusal: str | None = None) -> None:
        """A due REST reading skipped for the request budget: found unaffordable before it began (a debug line),
        or a routine read of it refused part-way (`refusal`: another client on this IP used the weight
        meanwhile; an info line). Counted (/health, /metrics), never a monitor error: skipping is the design,
        and an error would reset readiness's clean run of the monitor."""
        self.rest_skipped += 1
        if refusal is None:
            log.debug("monitor sweep without REST reading: request budget", skipped=self.rest_skipped)
        else:
            log.info("monitor REST reading skipped part-way: request budget", skipped=self.rest_skipped,
                     refusal=refusal)

    def age_s(self) -> float | None:
        return None if self.last_sweep_monotonic is None else time.monotonic() - self.last_sweep_monotonic

    def rest_age_s(self) -> float | None:
        return None if self.last_rest_monotonic is None else time.monotonic() - self.last_rest_monotonic


class NakedTimer:
    """Starts a position's count when it is first seen without a working stop and adds it up when that ends."""

    def __init__(self, state: MonitorState, clock: Clock, metrics: MonitorMetrics) -> None:
        self.state, self.clock, self.metrics = state, clock, metrics

    def measure_all(self, positions: Sequence[PositionSnapshot], orders: Sequence[OrderSnapshot]) -> None:
        by_symbol = {p.symbol: p for p in positions}
        for symbol in sorted(set(by_symbol) | set(self.state.unprotected_since_ms)):
            self.measure(symbol, by_symbol.get(symbol), [o for o in orders if o.symbol == symbol])

    def measure(self, symbol: str, position: PositionSnapshot | None, orders: Sequence[OrderSnapshot]) -> None:
        now = self.clock.now_ms()
        since = self.state.unprotected_since_ms
        if position is None or position.amount == 0 or has_working_stop(position, orders):
            if symbol in since:
                seconds = (now - since.pop(symbol)) / 1000
                self.state.unprotected_seconds_total += seconds
                self.metrics.add_unprotected_seconds(seconds)
                if seconds >= NOTICE_S:
                    log.info("position protected again" if position is not None and position.amount != 0
                             else "position without a working stop is closed", symbol=symbol,
                             without_stop_s=round(seconds, 2))
        else:
            since.setdefault(symbol, now)
        self.metrics.set_unprotected_seconds({s: (now - t) / 1000 for s, t in since.items()})

