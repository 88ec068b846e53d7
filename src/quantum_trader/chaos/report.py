"""The chaos campaign's independent observer and its figures.

The observer is deliberately NOT the bot: it reads the simulator's own state (positions, algo orders,
the order book's history) after every step, with its own rules, so a bot that believes itself
protected cannot grade its own homework. What it measures, per scenario:

- unprotected stretches: for each position episode (a symbol from non-flat to flat or a side change),
  the simulated time from the first observation without a working stop to the first one with a stop
  again (or to flat, or to the scenario's end). Observations happen once per step (one monitor
  interval), so a stop restored within the same step counts as 0 s. A *working stop* is an open
  conditional STOP / STOP_MARKET / TRAILING_STOP_MARKET on the exit side with closePosition, or with
  reduceOnly and a quantity covering the position.
- duplicate orders: (a) a client id used by two orders on the exchange (a retry that re-sent instead
  of looking the id up), (b) two orders for the same trade and purpose (different attempts) open at
  once, (c) more than one working stop on a position at two consecutive observations (one step of
  overlap is what "replace before cancel" legitimately needs). Each (b)/(c) episode counts once.
- unknown positions: positions open on the exchange at the end of a scenario that the running bot
  neither tracks as a trade nor has adopted through its monitor.
- breaches: the stop audit (trading/audit.py) over the bot's `TradeClosed` events; a breach is
  explained by a gap when some step of the trade's life opened beyond its planned stop from a price
  on the safe side of it (the stop could not have filled at its price).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain.enums import Side
from ..domain.events import TradeClosed
from ..domain.orders import AlgoOrder
from ..sim.engine import ExchangeSimulator
from ..trading.audit import audit_rows
from ..trading.monitor_rules import STOP_TYPES

#: The monitor's stop types less the stop-limits (a triggered STOP rests as a limit order and may never
#: fill: trading/monitor_rules.py's `stop_limit` defect), so the campaign judges protection as the bot does.
WORKING_STOP_TYPES = frozenset(t for t in STOP_TYPES if not t.becomes_limit)


def is_working_stop(algo: AlgoOrder, amount: Decimal) -> bool:
    """Would this open algo order close (all of) a position of `amount` at a loss limit?"""
    exit_side = Side.SELL if amount > 0 else Side.BUY
    if not algo.is_open or algo.order_type not in WORKING_STOP_TYPES or algo.side is not exit_side:
        return False
    return algo.close_position or (algo.reduce_only and algo.quantity >= abs(amount))


def trade_and_purpose(client_id: str) -> tuple[str, str] | None:
    """`qt-<trade>-<purpose>-<attempt>` → (trade, purpose); None for ids the bot did not make."""
    parts = client_id.split("-")
    if len(parts) < 4 or parts[0] != "qt":
        return None
    return "-".join(parts[1:-2]), parts[-2]


@dataclass
class Episode:
    """One position on one symbol, from non-flat to flat (or to a side change)."""

    symbol: str
    sign: int
    start_ms: int
    unprotected_since: int | None = None
    multi_stop_steps: int = 0
    #: Part of the current unprotected stretch in which no bot could act (see `Observer.exclude`).
    excluded_ms: int = 0


@dataclass
class Stretch:
    symbol: str
    from_ms: int
    to_ms: int
    #: Not counted: the bot's process was dead (kill -9 until its restart).
    excluded_ms: int = 0

    @property
    def seconds(self) -> float:
        return (self.to_ms - self.from_ms - self.excluded_ms) / 1000


@dataclass
class Observer:
    sim: ExchangeSimulator
    symbols: tuple[str, ...]
    start_ms: int
    episodes: dict[str, Episode] = field(default_factory=dict)
    opened: int = 0
    longest: Stretch | None = None
    duplicate_stop_episodes: int = 0
    same_purpose_open: set[tuple[str, str]] = field(default_factory=set)
    #: symbol → [(time, price before the step, the step's open)] for steps that opened with a jump.
    gaps: dict[str, list[tuple[int, Decimal, Decimal]]] = field(default_factory=dict)
    trades: list[TradeClosed] = field(default_factory=list)
    #: Observations in a row that make an overlap a duplicate: more than one working stop on a position,
    #: or two open orders of one trade and purpose. Here one observation is one monitor interval (2 and 1);
    #: the live campaign looks every 100 ms, so a replace-before-cancel in flight spans several looks.
    overlap_observations: int = 2
    twin_observations: int = 1
    #: Every unprotected stretch seen (the live report lists the worst with their times).
    stretches: list[Stretch] = field(default_factory=list)
    _twins: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def record_step(self, symbol: str, time_ms: int, before: Decimal, open_: Decimal) -> None:
        if open_ != before:
            self.gaps.setdefault(symbol, []).append((time_ms, before, open_))

    def on_closed(self, event: TradeClosed) -> None:
        self.trades.append(event)

    def observe(self, now_ms: int) -> None:
        """One look at the exchange after a step."""
        for symbol in self.symbols:
            self._observe_symbol(symbol, now_ms)
        seen: set[tuple[str, str]] = set()
        for algo in self.sim.open_algo_orders():
            key = trade_and_purpose(algo.client_algo_id)
            if key is not None and key not in seen and self._same_purpose(key, algo):
                seen.add(key)
        self._twins = {key: self._twins.get(key, 0) + 1 for key in seen}
        self.same_purpose_open.update(k for k, n in self._twins.items() if n >= self.twin_observations)

    def _same_purpose(self, key: tuple[str, str], algo: AlgoOrder) -> bool:
        twins = [a for a in self.sim.open_algo_orders(algo.symbol) if trade_and_purpose(a.client_algo_id) == key]
        return len(twins) > 1

    def _observe_symbol(self, symbol: str, now_ms: int) -> None:
        amount = self.sim.position(symbol).amount
        episode = self.episodes.get(symbol)
        sign = (amount > 0) - (amount < 0)
        if episode is not None and episode.sign != sign:
            self._end(episode, now_ms)
            episode = None
        if sign == 0:
            return
        if episode is None:
            episode = self.episodes[symbol] = Episode(symbol, sign, now_ms)
            self.opened += 1
        stops = sum(1 for a in self.sim.open_algo_orders(symbol) if is_working_stop(a, amount))
        if stops == 0:
            if episode.unprotected_since is None:
                episode.unprotected_since = now_ms
        elif episode.unprotected_since is not None:
            self._stretch(episode, now_ms)
        episode.multi_stop_steps = episode.multi_stop_steps + 1 if stops > 1 else 0
        if episode.multi_stop_steps == self.overlap_observations:
            self.duplicate_stop_episodes += 1

    def _end(self, episode: Episode, now_ms: int) -> None:
        if episode.unprotected_since is not None:
            self._stretch(episode, now_ms)
        del self.episodes[episode.symbol]

    def _stretch(self, episode: Episode, to_ms: int) -> None:
        assert episode.unprotected_since is not None
        stretch = Stretch(episode.symbol, episode.unprotected_since, to_ms, episode.excluded_ms)
        episode.unprotected_since, episode.excluded_ms = None, 0
        self.stretches.append(stretch)
        if self.longest is None or stretch.seconds > self.longest.seconds:
            self.longest = stretch

    def exclude(self, from_ms: int, to_ms: int) -> None:
        """Time in which no bot could act (its process was dead) does not count as unprotected: a stretch
        that began in it counts from `to_ms` (the restart), one that began before loses the window's length."""
        for episode in self.episodes.values():
            since = episode.unprotected_since
            if since is not None and since < to_ms:
                episode.excluded_ms += to_ms - max(since, from_ms)

    def finish(self, now_ms: int) -> None:
        for episode in list(self.episodes.values()):
            self._end(episode, now_ms)

    # --- figures at the end ---------------------------------------------------------------------------
    def reused_client_ids(self) -> int:
        """Orders beyond the first under one client id (a triggered stop's spawned order is not a reuse)."""
        classic = Counter(o.client_order_id for o in self.sim.all_orders() if o.algo_id is None)
        algo = Counter(a.client_algo_id for a in self.sim.all_algo_orders())
        return sum(n - 1 for n in classic.values() if n > 1) + sum(n - 1 for n in algo.values() if n > 1)

    def duplicates(self) -> dict[str, int]:
        return {"client_id_reused": self.reused_client_ids(), "same_purpose_open": len(self.same_purpose_open),
                "extra_working_stops": self.duplicate_stop_episodes}

    def gapped_trades(self) -> frozenset[str]:
        return frozenset(t.trade_id for t in self.trades if self._gapped(t))

    def _gapped(self, trade: TradeClosed) -> bool:
        stop = trade.planned_stop
        if stop is None:
            return False
        sign = trade.direction.sign
        return any(trade.opened_ms <= t <= trade.time_ms and (before - stop) * sign > 0 >= (open_ - stop) * sign
                   for t, before, open_ in self.gaps.get(trade.symbol, ()))

    def breaches(self) -> tuple[int, list[dict[str, Any]]]:
        """(breaches, the rows of those not explained by a gap: what a reader needs to chase one)."""
        rows = [r for r in audit_rows(self.trades, gaps=self.gapped_trades()) if r.breach]
        keys = ("trade_id", "symbol", "direction", "exit_reason", "planned_stop", "exit_price", "slippage_bps",
                "breach_reason")
        unexplained = [r.to_dict() for r in rows if not r.gap_explained]
        return len(rows), [{k: row[k] for k in keys} for row in unexplained]


@dataclass
class ScenarioResult:
    index: int
    seed: int
    symbols: tuple[str, ...]
    positions_opened: int
    longest_unprotected_s: float
    longest_symbol: str | None
    longest_from_s: float | None
    duplicates: dict[str, int]
    unknown_positions: list[str]
    breaches: int
    unexplained: list[dict[str, Any]]
    faults: Counter[str]
    restarts: int
    manual_cancels: int
    trades_closed: int
    unexpected_errors: list[str]
    #: Exchange events the bot never saw (a dropped stream, or the bot was down).
    events_lost: int
    recent_actions: list[str]

    @property
    def unexplained_breaches(self) -> int:
        return len(self.unexplained)

    @property
    def duplicate_orders(self) -> int:
        return sum(self.duplicates.values())

    def failures(self, limit_s: float) -> int:
        return ((self.longest_unprotected_s > limit_s) + (self.duplicate_orders > 0) + bool(self.unknown_positions)
                + (self.unexplained_breaches > 0))

    def details(self) -> dict[str, Any]:
        return {"scenario": self.index, "seed": self.seed, "symbols": list(self.symbols),
                "longest_unprotected_s": self.longest_unprotected_s, "symbol": self.longest_symbol,
                "unprotected_from_s": self.longest_from_s, "duplicates": self.duplicates,
                "unknown_positions": self.unknown_positions, "unexplained_breaches": len(self.unexplained),
                "unexplained_breach_rows": self.unexplained[:3],
                "restarts": self.restarts, "manual_cancels": self.manual_cancels,
                "unexpected_errors": self.unexpected_errors[:3],
                "actions_before": self.recent_actions}


def campaign_report(results: Iterable[ScenarioResult], *, scenarios: int, seed: int,
                    monitor_interval_s: float) -> dict[str, Any]:
    """The campaign's document; `passed` is the four targets of the issue."""
    items = list(results)
    limit = 2 * monitor_interval_s
    faults: Counter[str] = Counter()
    for r in items:
        faults.update(r.faults)
    longest = max((r.longest_unprotected_s for r in items), default=0.0)
    duplicates = sum(r.duplicate_orders for r in items)
    unknown = sum(len(r.unknown_positions) for r in items)
    unexplained = sum(r.unexplained_breaches for r in items)
    worst = max(items, key=lambda r: (r.failures(limit), r.longest_unprotected_s, -r.index), default=None)
    return {
        "scenarios": scenarios, "seed": seed,
        "positions_opened": sum(r.positions_opened for r in items),
        "trades_closed": sum(r.trades_closed for r in items),
        "longest_unprotected_s": longest, "monitor_interval_s": monitor_interval_s,
        "unprotected_limit_s": limit,
        "duplicate_orders": duplicates,
        "duplicates_by_kind": _sum_kinds(r.duplicates for r in items),
        "unknown_positions": unknown,
        "breaches": sum(r.breaches for r in items), "unexplained_breaches": unexplained,
        "faults_injected": dict(sorted(faults.items())),
        "events_lost": sum(r.events_lost for r in items),
        "restarts": sum(r.restarts for r in items),
        "manual_cancels": sum(r.manual_cancels for r in items),
        "unexpected_errors": sum(len(r.unexpected_errors) for r in items),
        "scenarios_failed": sum(1 for r in items if r.failures(limit)),
        "passed": longest <= limit and duplicates == 0 and unknown == 0 and unexplained == 0,
        "worst": None if worst is None else worst.details(),
    }


def _sum_kinds(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for kind, n in part.items():
            total[kind] = total.get(kind, 0) + n
    return dict(sorted(total.items()))
