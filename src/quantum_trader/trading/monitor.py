"""The position monitor's sweep: read positions and open orders (classic AND algo) back from the
exchange and judge every position's protection.

It runs at start-up, every QT_MONITOR_INTERVAL seconds of the session's clock, and its results feed
`/health`, `/metrics` and the journal (equity snapshots, errors). It measures how long each position
has been without a working stop. Repairing what it finds (placing a missing stop, cancelling
duplicates and orphans, the emergency exit) is added on top of this sweep by the protection work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.metrics import Metrics
from ..domain.events import EquitySnapshot, ErrorEvent
from ..domain.exchange_types import AccountSnapshot, PositionSnapshot
from ..exchange.port import Exchange
from .protection_view import ProtectionView, Status, build_view

EQUITY_EVERY_MS = 60_000


@dataclass
class MonitorState:
    sweeps: int = 0
    errors: int = 0
    last_sweep_monotonic: float | None = None
    last_duration_s: float = 0.0
    view: ProtectionView | None = None
    unprotected_since_ms: dict[str, int] = field(default_factory=dict)
    unprotected_seconds_total: float = 0.0

    def age_s(self) -> float | None:
        return None if self.last_sweep_monotonic is None else time.monotonic() - self.last_sweep_monotonic


class PositionMonitor:
    def __init__(self, bus: EventBus, clock: Clock, exchange: Exchange, metrics: Metrics) -> None:
        self.bus, self.clock, self.exchange, self.metrics = bus, clock, exchange, metrics
        self.state = MonitorState()
        self._last_equity_ms: int | None = None

    async def sweep(self) -> ProtectionView | None:
        started = time.perf_counter()
        try:
            positions = await self.exchange.positions()
            orders = await self.exchange.open_orders()
            account = await self.exchange.account()
        except Exception as exc:  # the monitor must keep running whatever the exchange does
            self.state.errors += 1
            self.metrics.error("monitor")
            await self.bus.publish(ErrorEvent(component="monitor", message=f"{type(exc).__name__}: {exc}",
                                              time_ms=self.clock.now_ms()))
            return None
        view = build_view(positions, orders, account)
        self._account_unprotected(view, positions)
        self.state.view = view
        self.state.sweeps += 1
        self.state.last_sweep_monotonic = time.monotonic()
        self.state.last_duration_s = time.perf_counter() - started
        self.metrics.set_equity(account.equity)
        self.metrics.set_positions(len(view.positions), view.unprotected)
        self.metrics.observe_sweep(self.state.last_duration_s)
        self.metrics.set_sweep_age(0.0)
        await self._maybe_equity(account, len(view.positions))
        return view

    def _account_unprotected(self, view: ProtectionView, positions: list[PositionSnapshot]) -> None:
        now = self.clock.now_ms()
        bad = {p.symbol for p in view.positions if p.status is Status.UNPROTECTED}
        since = self.state.unprotected_since_ms
        for symbol in list(since):
            if symbol not in bad:
                self.state.unprotected_seconds_total += (now - since.pop(symbol)) / 1000
        for symbol in bad:
            since.setdefault(symbol, now)
        self.metrics.set_unprotected_seconds({s: (now - t) / 1000 for s, t in since.items()})

    async def _maybe_equity(self, account: AccountSnapshot, open_positions: int) -> None:
        """An equity point every minute of session time: the curve, and the monitor's heartbeat in the journal."""
        now = self.clock.now_ms()
        if self._last_equity_ms is not None and now - self._last_equity_ms < EQUITY_EVERY_MS:
            return
        self._last_equity_ms = now
        await self.bus.publish(EquitySnapshot(wallet=account.wallet, equity=account.equity,
                                              available=account.available, open_positions=open_positions, time_ms=now))
