"""What the protection monitor reports to metrics, as a port: `/metrics` (core/metrics.py) in a session that
serves it, nothing in a backtest.

A backtest serves no `/metrics`, yet it built a Prometheus registry and set its gauges at every sweep, and
importing prometheus_client was 17 ms of the peers' 2.2 s run. The monitor depends on this protocol only;
a session passes `Metrics`, a backtest `NoMetrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol


class MonitorMetrics(Protocol):
    """The monitor's figures: equity, positions and how many lack a stop, how long, and its sweeps."""

    def set_equity(self, usdt: Decimal) -> None: ...
    def set_positions(self, open_positions: int, unprotected: int) -> None: ...
    def set_unprotected_seconds(self, seconds_by_symbol: Mapping[str, float]) -> None: ...
    def add_unprotected_seconds(self, seconds: float) -> None: ...
    def set_sweep_age(self, seconds: float) -> None: ...
    def observe_sweep(self, duration_s: float) -> None: ...
    def error(self, component: str) -> None: ...


class NoMetrics:
    """A run nothing scrapes (a backtest): every figure is dropped."""

    def set_equity(self, usdt: Decimal) -> None:
        pass

    def set_positions(self, open_positions: int, unprotected: int) -> None:
        pass

    def set_unprotected_seconds(self, seconds_by_symbol: Mapping[str, float]) -> None:
        pass

    def add_unprotected_seconds(self, seconds: float) -> None:
        pass

    def set_sweep_age(self, seconds: float) -> None:
        pass

    def observe_sweep(self, duration_s: float) -> None:
        pass

    def error(self, component: str) -> None:
        pass
