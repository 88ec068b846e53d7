"""Prometheus metrics of one bot session.

Each `Metrics` owns its own `CollectorRegistry` instead of the global default one, so several apps
(tests, a backtest next to a paper session) can live in one process without "Duplicated timeseries"
errors, and `/metrics` shows exactly this session. The figures that matter most for safety are the
unprotected ones: `qt_unprotected_positions` should be 0 and `qt_unprotected_seconds{symbol}` tells
how long a position has been naked, which is what an alert should fire on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

#: The classic text format every Prometheus server scrapes; names here are legacy-valid, so no escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
SWEEP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Gauges and counters with setters; money arrives as Decimal and becomes float only here."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.equity = Gauge("qt_equity_usdt", "Account equity (wallet + unrealised P&L at mark), USDT", registry=r)
        self.open_positions = Gauge("qt_open_positions", "Open positions", registry=r)
        self.unprotected_positions = Gauge("qt_unprotected_positions", "Open positions without a working stop-loss",
                                           registry=r)
        self.unprotected_seconds = Gauge("qt_unprotected_seconds", "Seconds the position has been without a stop",
                                         ["symbol"], registry=r)
        # A gauge (only ever increased): a Counter would claim the family name qt_unprotected_seconds too.
        self.unprotected_seconds_total = Gauge("qt_unprotected_seconds_total", "Cumulated seconds of positions "
                                               "without a stop (all symbols)", registry=r)
        self.sweep_age = Gauge("qt_monitor_sweep_age_seconds", "Seconds since the last protection-monitor sweep",
                               registry=r)
        self.sweep_duration = Histogram("qt_monitor_sweep_duration_seconds", "Duration of a monitor sweep",
                                        buckets=SWEEP_BUCKETS, registry=r)
        self.orders_sent = Counter("qt_orders_sent", "Orders sent to the exchange", ["purpose"], registry=r)
        self.orders_rejected = Counter("qt_orders_rejected", "Orders the exchange rejected, by Binance code",
                                       ["code"], registry=r)
        self.feed_lag = Gauge("qt_feed_lag_seconds", "Age of the newest market event when processed", registry=r)
        self.bus_events = Counter("qt_bus_events", "Events published on the bus", registry=r)
        self.errors = Counter("qt_errors", "Errors, by component", ["component"], registry=r)
        self.task_up = Gauge("qt_task_up", "1 while a supervised background task runs (0: dead or ended)", ["task"],
                             registry=r)
        self.task_restarts = Gauge("qt_task_restarts", "Restarts of a supervised background task since start",
                                   ["task"], registry=r)
        self._budget_gauges(r)
        self._feed_gauges(r)
        self._scanner_gauges(r)
        self.notifications = Gauge("qt_notifications", "Alerts (QT_NOTIFY_URLS) since start, by result: sent, "
                                   "failed (given up after its tries), dropped (queue full), queued (waiting now)",
                                   ["result"], registry=r)
        self.notify_failing = Gauge("qt_notify_destinations_failing", "Alert destinations failing now (their last "
                                    "send failed): alert on > 0, the user may not hear the next alert", registry=r)

    def _budget_gauges(self, r: CollectorRegistry) -> None:
        """The exchange request budget (exchange/budget.py). Totals since start are gauges set from the
        budget's own counts (like qt_task_restarts): the budget, not this registry, is where they are kept."""
        self.weight_used = Gauge("qt_request_weight_used", "Request weight used this minute (ours or the "
                                 "server's X-MBX-USED-WEIGHT-1M, the higher)", registry=r)
        self.weight_limit = Gauge("qt_request_weight_limit", "The exchange's request-weight limit per minute",
                                  registry=r)
        self.weight_share = Gauge("qt_request_weight_budget_ratio", "Share of the limit routine reads may use",
                                  registry=r)
        self.weight_peak = Gauge("qt_request_weight_peak", "Highest minute's request weight seen", registry=r)
        self.rate_limited = Gauge("qt_exchange_rate_limited", "429 and 418 answers since start", ["status"],
                                  registry=r)
        self.budget_refused = Gauge("qt_request_budget_refused", "Calls the budget held back since start "
                                    "(never sent), by priority", ["priority"], registry=r)
        self.banned = Gauge("qt_exchange_banned", "1 while the exchange bans this IP (418)", registry=r)
        self.rest_age = Gauge("qt_monitor_rest_reading_age_seconds", "Seconds since the monitor's last REST "
                              "reading", registry=r)
        self.rest_skipped = Gauge("qt_monitor_rest_readings_skipped", "Monitor sweeps that skipped the REST "
                                  "reading for the request budget", registry=r)
        self.order_count = Gauge("qt_order_count", "New orders in the current window (ours or the server's "
                                 "X-MBX-ORDER-COUNT-<window>, the higher)", ["window"], registry=r)
        self.order_limit = Gauge("qt_order_limit", "The exchange's ORDERS limit per window", ["window"], registry=r)
        self.order_rate_limited = Gauge("qt_exchange_order_rate_limited", "-1015 answers (too many new orders) "
                                        "since start", registry=r)
        self.entries_held_back = Gauge("qt_entries_held_back", "New entries the budget did not send for the "
                                       "account's order rate since start", registry=r)

    def _feed_gauges(self, r: CollectorRegistry) -> None:
        """The exchange feed's repairs (feeds/market_feed.py FeedCounters): since-start totals kept by the
        feed, so gauges set from its counts, as for the budget."""
        self.feed_repairs = Gauge("qt_feed_repairs", "Market-stream repairs since start, by kind: connects, "
                                  "reconnects, stalls, backfills (REST kline reads), late_symbols_filled, nan_rows",
                                  ["kind"], registry=r)
        self.feed_stream_lag = Gauge("qt_feed_stream_lag_seconds", "Receipt time minus the exchange's event time "
                                     "of the newest market-stream heartbeat", registry=r)
        self.feed_silent = Gauge("qt_feed_stream_silent_seconds", "Longest silence of a market-stream connection "
                                 "(a stall past QT_FEED_STALL_S reconnects it)", registry=r)

    def _scanner_gauges(self, r: CollectorRegistry) -> None:
        """The AI scanner (signals/scanner_health.py ScannerStats): the last bar's counts and since-start totals."""
        self.scanner_bar = Gauge("qt_scanner_last_bar", "The AI scanner's last closed bar, by count: scored "
                                 "(symbols with complete inputs), signals (emitted), confident (>= QT_MIN_CONFIDENCE)",
                                 ["count"], registry=r)
        self.scanner_total = Gauge("qt_scanner_total", "AI scanner totals since start, by count: bars_scored, "
                                   "signals, confident, skipped_bars", ["count"], registry=r)
        self.scanner_lag = Gauge("qt_scanner_lag_bars", "Bars the last scan finished late (0: in time)", registry=r)
        self.scanner_scan = Gauge("qt_scanner_scan_seconds", "Time of one scan of the universe, by quantile over "
                                  "the last bars", ["quantile"], registry=r)

    def observe_scanner(self, scanner: Mapping[str, Any]) -> None:
        """The gauges of /health's `scanner` object."""
        for count, key in (("scored", "scored_last_bar"), ("signals", "signals_last_bar"),
                           ("confident", "confident_last_bar")):
            if isinstance(scanner.get(key), int):
                self.scanner_bar.labels(count=count).set(scanner[key])
        for count, key in (("bars_scored", "bars_scored"), ("signals", "signals_total"),
                           ("confident", "confident_total"), ("skipped_bars", "skipped_bars")):
            if isinstance(scanner.get(key), int):
                self.scanner_total.labels(count=count).set(scanner[key])
        if isinstance(scanner.get("lag_bars"), int):
            self.scanner_lag.set(scanner["lag_bars"])
        for quantile, key in (("0.5", "scan_ms_p50"), ("0.99", "scan_ms_p99")):
            if isinstance(scanner.get(key), int | float):
                self.scanner_scan.labels(quantile=quantile).set(scanner[key] / 1000)

    def observe_feed(self, feed: Mapping[str, Any]) -> None:
        """The gauges of the exchange feed's /health `feed_stream` object (`FeedCounters.snapshot`)."""
        for kind in ("connects", "reconnects", "stalls", "backfills", "late_symbols_filled", "nan_rows"):
            if isinstance(feed.get(kind), int):
                self.feed_repairs.labels(kind=kind).set(feed[kind])
        if isinstance(feed.get("lag_ms"), int | float):
            self.feed_stream_lag.set(feed["lag_ms"] / 1000)
        if isinstance(feed.get("silent_s"), int | float):
            self.feed_silent.set(feed["silent_s"])

    def set_equity(self, usdt: Decimal) -> None:
        self.equity.set(float(usdt))

    def set_positions(self, open_positions: int, unprotected: int) -> None:
        self.open_positions.set(open_positions)
        self.unprotected_positions.set(unprotected)

    def set_unprotected_seconds(self, seconds_by_symbol: Mapping[str, float]) -> None:
        """Replace the per-symbol figures: a symbol that is protected again disappears from the output."""
        self.unprotected_seconds.clear()
        for symbol, seconds in seconds_by_symbol.items():
            self.unprotected_seconds.labels(symbol=symbol).set(seconds)

    def add_unprotected_seconds(self, seconds: float) -> None:
        if seconds > 0:
            self.unprotected_seconds_total.inc(seconds)

    def set_sweep_age(self, seconds: float) -> None:
        self.sweep_age.set(seconds)

    def observe_sweep(self, duration_s: float) -> None:
        self.sweep_duration.observe(duration_s)

    def order_sent(self, purpose: str) -> None:
        self.orders_sent.labels(purpose=purpose).inc()

    def order_rejected(self, code: int | str) -> None:
        self.orders_rejected.labels(code=str(code)).inc()

    def set_feed_lag(self, seconds: float) -> None:
        self.feed_lag.set(seconds)

    def bus_event(self, count: int = 1) -> None:
        self.bus_events.inc(count)

    def error(self, component: str) -> None:
        self.errors.labels(component=component).inc()

    def observe_health(self, health: Mapping[str, Any]) -> None:
        """Refresh the gauges the `/health` document carries (called by the API on every scrape)."""
        if isinstance(health.get("positions"), int):
            self.open_positions.set(health["positions"])
        if isinstance(health.get("unprotected_positions"), int):
            self.unprotected_positions.set(health["unprotected_positions"])
        age = (health.get("monitor") or {}).get("last_sweep_age_s")
        if isinstance(age, int | float | str):
            with contextlib.suppress(ValueError):
                self.sweep_age.set(float(age))
        self.observe_tasks(health.get("tasks") or {})
        monitor = health.get("monitor") or {}
        if isinstance(monitor.get("last_rest_reading_age_s"), int | float):
            self.rest_age.set(float(monitor["last_rest_reading_age_s"]))
        if isinstance(monitor.get("rest_readings_skipped"), int):
            self.rest_skipped.set(monitor["rest_readings_skipped"])
        budget = health.get("request_budget")
        if isinstance(budget, Mapping):
            self.observe_budget(budget)
        feed = health.get("feed_stream")
        if isinstance(feed, Mapping):
            self.observe_feed(feed)
        scanner = health.get("scanner")
        if isinstance(scanner, Mapping):
            self.observe_scanner(scanner)
        notify = health.get("notify")
        if isinstance(notify, Mapping):
            for result in ("sent", "failed", "dropped", "queued"):
                if isinstance(notify.get(result), int):
                    self.notifications.labels(result=result).set(notify[result])
            if isinstance(notify.get("failing"), list):
                self.notify_failing.set(len(notify["failing"]))

    def observe_budget(self, budget: Mapping[str, Any]) -> None:
        """The gauges of the request budget's /health snapshot (`WeightBudget.snapshot`)."""
        for gauge, key in ((self.weight_used, "used_weight"), (self.weight_limit, "limit"),
                           (self.weight_peak, "peak_used_weight")):
            if isinstance(budget.get(key), int | float):
                gauge.set(float(budget[key]))
        if isinstance(budget.get("share_pct"), int | float):
            self.weight_share.set(float(budget["share_pct"]) / 100)
        for status in ("429", "418"):
            if isinstance(budget.get(f"rate_limited_{status}"), int):
                self.rate_limited.labels(status=status).set(budget[f"rate_limited_{status}"])
        for priority, count in (budget.get("refused") or {}).items():
            self.budget_refused.labels(priority=str(priority)).set(count)
        self.banned.set(1 if budget.get("banned_until_ms") else 0)
        if isinstance(budget.get("order_rate_limited"), int):
            self.order_rate_limited.set(budget["order_rate_limited"])
        orders = budget.get("order_rate") or {}
        if isinstance(orders.get("entries_held_back"), int):
            self.entries_held_back.set(orders["entries_held_back"])
        for window, row in (orders.get("windows") or {}).items():
            self.order_count.labels(window=str(window)).set(row.get("count", 0))
            self.order_limit.labels(window=str(window)).set(row.get("limit", 0))

    def observe_tasks(self, tasks: Mapping[str, Mapping[str, Any]]) -> None:
        """`qt_task_up` and `qt_task_restarts` from the supervisor's `/health` document (an alert on
        `qt_task_up == 0` for the monitor is the one that matters)."""
        for name, task in tasks.items():
            self.task_up.labels(task=name).set(1 if task.get("alive") else 0)
            restarts = task.get("restarts")
            if isinstance(restarts, int):
                self.task_restarts.labels(task=name).set(restarts)

    def render(self) -> bytes:
        """Prometheus text exposition format 0.0.4."""
        return generate_latest(self.registry)
