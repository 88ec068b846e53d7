"""The position monitor's settings, and the pace of the equity points it publishes (trading/monitor.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: An equity point at most this often (ms of session time), and at once when the open positions' count changes.
EQUITY_EVERY_MS = 60_000


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """`software_stop_grace_s` None → 2 × interval; `trailing_stop_pct` in percent (like QT_STOP_LOSS_PCT)."""

    interval_s: float = 1.0
    software_stop_grace_s: float | None = None
    trailing_stop_pct: Decimal | None = None
    #: How long a position whose entry is in flight is left to execution (it places SL and TP itself).
    entry_grace_s: float = 5.0

    @property
    def grace_ms(self) -> int:
        grace = self.software_stop_grace_s if self.software_stop_grace_s is not None else 2 * self.interval_s
        return round(grace * 1000)


@dataclass
class EquityBeat:
    """When the monitor publishes an equity point: every minute of session time (the curve, and the monitor's
    heartbeat in the journal), and at once when the number of open positions changed (a stop-out realises its
    loss in that moment, and the daily loss limit, which reads these points, must not learn of it later)."""

    last_ms: int | None = None
    last_positions: int | None = None

    def due(self, now_ms: int, open_positions: int) -> bool:
        """Whether a point is due now; if so, it is counted as published."""
        moved = open_positions != self.last_positions
        if not moved and self.last_ms is not None and now_ms - self.last_ms < EQUITY_EVERY_MS:
            return False
        self.last_ms, self.last_positions = now_ms, open_positions
        return True
