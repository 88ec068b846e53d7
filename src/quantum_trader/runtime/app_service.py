"""`SessionService`: the running session as the API and the CLI see it (implements `AppService`)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from functools import partial

from ..core.metrics import Metrics
from ..core.supervisor import Supervisor
from ..domain.events import FORCED, Direction, EntryNotOpened, KillSwitch, RiskDecision, Signal
from ..domain.exchange_types import BalanceUpdate
from ..domain.money import fmt
from ..exchange.budget import WeightBudget
from ..exchange.clock_sync import ClockReading
from ..exchange.user_stream import UserStream
from ..feeds.market_feed import FeedStatus
from ..journal.reader import JournalReader
from ..notify.sender import Notifier
from ..readmodels.bar_tape import BarTape
from ..readmodels.dashboard import DAY_MS, DayStart, Revision, mark_unprotected, pnl_today, unprotected_seconds
from ..readmodels.journal import audit_from_journal, no_signal_json, readiness_from_journal
from ..readmodels.recompute import Recomputed
from ..readmodels.refusals import RefusalTally, tally_of
from ..readmodels.signal_outcome import signals_json
from ..settings.model import Settings
from ..signals.scanner_health import ScannerStats, stale_after_s
from ..signals.strategy import NO_MODEL, Silence
from ..trading.kill_switch import KillSwitchHandler, KillSwitchResult
from ..trading.monitor import PositionMonitor
from ..trading.protection_view import ProtectionView, build_view
from .health_reasons import HealthReasons, budget_reason, seconds
from .service import JSON
from .startup import resume_entries
from .wiring import Engine

#: /health turns degraded when the feed or the monitor has been silent this many intervals.
STALE_INTERVALS = 5
#: /health turns degraded when the monitor has not afforded a REST reading for this long (the budget is spent).
REST_STALE_S = 120.0
#: The latest "no signal" events /api/v1/signals shows beside the signals (one per change of reason).
NO_SIGNAL_SHOWN = 20


class SessionService:
    #: The session's background tasks, set once they start (None before, and where nothing is supervised).
    supervisor: Supervisor | None = None
    #: The URL adapter's request budget (None in process): a ban is unhealthy, repeated 429s degraded.
    budget: WeightBudget | None = None
    #: A URL adapter's measured offset between this machine's clock and the exchange's (exchange/clock_sync.py).
    exchange_clock: ClockReading | None = None
    #: QT_NOTIFY_URLS's sender (None when unset): /health shows its redacted destinations and counters.
    notifier: Notifier | None = None
    #: The URL adapter's user-data stream (None in process or polling): /health's `user_stream`.
    user_stream: UserStream | None = None

    def __init__(self, settings: Settings, engine: Engine, monitor: PositionMonitor, kill: KillSwitchHandler,
                 reader: JournalReader, metrics: Metrics, feed: FeedStatus, *, strategy_status: str = "",
                 strategy: object | None = None, account: str | None = None) -> None:
        """`strategy`: the running strategy, whose `status` (and the AI scanner's `stats`) /health reads on
        every call, since they change as it runs; `strategy_status` is a fixed text for strategies without.
        `account`: the account traded as the journal names it (runtime/account_name.py), whose day "today's
        P&L" measures."""
        self.settings, self.engine, self.monitor, self.kill = settings, engine, monitor, kill
        self.reader, self.metrics, self.feed = reader, metrics, feed
        self._strategy_status = strategy_status
        self.strategy = strategy
        self.started = time.monotonic()
        self._decisions: dict[str, RiskDecision] = {}
        #: Risk's decisions on the strategy's own signals (forced entries left out), for /health's `scanner`.
        self._strategy_decisions = RefusalTally()
        engine.bus.subscribe(RiskDecision, self._remember)
        #: Each symbol's latest approved entry that opened nothing (a dry run, a refusal), for the force-entry answer.
        self._not_opened: dict[str, EntryNotOpened] = {}
        engine.bus.subscribe(EntryNotOpened, self._remember_not_opened)
        #: The dashboard's price history (the session records every bar in it) and its change counter.
        self.tape = BarTape(())  # the session replaces it with one over its symbols
        self.revision = Revision(engine.bus)
        self.account = account
        self._day_start = DayStart(partial(_first_equity_of_day, reader, account),
                                   partial(_transfers_between, reader, account))
        engine.bus.subscribe(BalanceUpdate, self._day_start.transfer_seen)  # after the journal: it is written
        # Readings of the whole journal, kept while nothing moved and never recomputed too often (recompute.py).
        self._audit = Recomputed(lambda: audit_from_journal(reader)[1], lambda: self.revision.value)
        self._readiness = Recomputed(lambda: readiness_from_journal(reader, settings), lambda: self.revision.value)

    def _remember(self, decision: RiskDecision) -> None:
        self._decisions[decision.signal.symbol] = decision
        if decision.signal.source != FORCED:
            self._strategy_decisions.on_decision(decision)

    def _remember_not_opened(self, event: EntryNotOpened) -> None:
        self._not_opened[event.symbol] = event

    async def health(self) -> JSON:
        mon = self.monitor.state
        sweep_age = mon.age_s()
        feed_age = self.feed.age_s()
        unprotected = mon.view.unprotected if mon.view else 0
        stale_after = max(self.settings.monitor_interval * STALE_INTERVALS, 5.0)
        rest_age = mon.rest_age_s()
        scanner = self._scanner()
        reasons = self._reasons(sweep_age, stale_after, unprotected, feed_age, rest_age, scanner)
        budget = self.budget.snapshot() if self.budget is not None else None
        self.metrics.set_sweep_age(sweep_age or 0.0)
        body: JSON = {
            "status": reasons.status(), "reasons": reasons.lines(), "mode": self.settings.mode, "event_driven": True,
            "exchange": "sim (in-process)" if self.settings.exchange == "sim" else self.settings.exchange,
            "feed": self.feed.name, "uptime_s": round(time.monotonic() - self.started, 3),
            "positions": len(mon.view.positions) if mon.view else 0, "unprotected_positions": unprotected,
            "monitor": {"last_sweep_age_s": None if sweep_age is None else round(sweep_age, 3),
                        "errors": mon.errors, "sweeps": mon.sweeps,
                        "last_rest_reading_age_s": None if rest_age is None else round(rest_age, 3),
                        "rest_readings_skipped": mon.rest_skipped, "stream_sweeps": mon.stream_sweeps},
            "strategy": self.settings.strategy, "trading": self.engine.risk.state, "halt": self._halt(),
            "daily_loss": None if self.engine.risk.daily_loss is None else self.engine.risk.daily_loss.status(),
            "feed_bars": self.feed.bars, "feed_done": self.feed.done,
            "tasks": self.supervisor.as_json() if self.supervisor is not None else {},
        }
        if self.feed.stopped:  # a replay that ended before its data (a hole in it)
            body["feed_stopped"] = self.feed.stopped
        if self.strategy_status:
            body["strategy_status"] = self.strategy_status
        if scanner is not None:
            body["scanner"] = scanner
        if budget is not None:
            body["request_budget"] = budget
        if self.exchange_clock is not None:
            body["exchange_clock"] = self.exchange_clock.as_health()
        if self.feed.repairs is not None:  # the exchange feed: its repairs and lag (`feed` stays its name)
            body["feed_stream"] = self.feed.repairs.snapshot()
        if self.user_stream is not None:  # orders, fills and positions: up or reconnecting, and how often it broke
            body["user_stream"] = self.user_stream.status()
        if self.notifier is not None:  # alerts configured: destinations redacted, errors scrubbed
            body["notify"] = self.notifier.status()
        return body

    def _reasons(self, sweep_age: float | None, stale_after: float, unprotected: int, feed_age: float | None,
                 rest_age: float | None, scanner: JSON | None) -> HealthReasons:
        """Every trouble, each with the status it is worth (runtime/health_reasons.py). Unhealthy: a dead task,
        or a monitor that never swept. Degraded: what leaves the stops unwatched or the bot blind (a position
        without its protection, a silent monitor, feed or REST reading, the request budget's trouble) and the
        lesser troubles (`_lesser_trouble`)."""
        reasons = HealthReasons()
        if self.supervisor is not None:  # a dead task is unhealthy at once
            for name, task in self.supervisor.tasks.items():
                if task.dead:
                    reasons.add("unhealthy", f"task {name} is dead ({task.state}): {task.last_error}")
        up = time.monotonic() - self.started
        if sweep_age is None and up > stale_after:
            reasons.add("unhealthy", f"the position monitor has not swept in {seconds(up)} since start")
        if unprotected:
            reasons.add("degraded", f"{unprotected} position(s) without working protection on the exchange")
        if sweep_age is not None and sweep_age > stale_after:
            reasons.add("degraded", f"the position monitor last swept {seconds(sweep_age)} ago (limit "
                                    f"{seconds(stale_after)})")
        if self._feed_stale(feed_age):
            reasons.add("degraded", f"no bar from the {self.feed.name} feed for {seconds(feed_age or 0.0)}")
        rest_limit = max(stale_after, REST_STALE_S)
        if (rest_age or 0.0) > rest_limit:
            reasons.add("degraded", f"the monitor's last REST reading of the exchange is {seconds(rest_age or 0.0)} "
                                    f"old (limit {seconds(rest_limit)})")
        trouble = None if self.budget is None else budget_reason(self.budget)
        if trouble is not None:
            reasons.add(*trouble)
        for lesser in self._lesser_trouble(scanner):
            reasons.add("degraded", lesser)
        return reasons

    def _lesser_trouble(self, scanner: JSON | None) -> list[str]:
        """Troubles that make a healthy bot degraded, never unhealthy: the stops are not affected. The scanner is
        behind (its signals describe a market that has moved on) or has no model it may use (it can never trade:
        a user trial read "healthy" over a bot that would not open a position all day), or an alert destination
        is failing or dropping messages (the user may not hear the next alert; a trial saw every alert fail while
        /health said healthy). A stale scanner (no scan for `stale_after_s` while the feed plays) degrades it
        too: a bot whose scanner stopped looks, from its positions alone, like one that found nothing to trade."""
        found = []
        if scanner is not None and scanner["behind"]:
            found.append("the AI scanner is behind the feed: its signals describe a market that has moved on")
        if scanner is not None and scanner["stale"]:
            found.append(f"the AI scanner has not scanned for {scanner['last_scan_age_s']} s (limit "
                         f"{scanner['stale_after_s']} s)")
        silence = getattr(self.strategy, "silence", None)
        if isinstance(silence, Silence) and silence.kind == NO_MODEL:
            found.append(f"the AI scanner cannot trade: {self.strategy_status}")
        for lane in [] if self.notifier is None else self.notifier.lanes:  # named as `notify` names them: redacted
            trouble = ["failing"] if lane.failing else []
            trouble += ["dropping new alerts (its queue is full)"] if lane.full else []
            if trouble:
                found.append(f"alert destination {lane.destination.name} is {' and '.join(trouble)}")
        return found

    def _halt(self) -> JSON | None:
        """Why entries are halted and until when (`until_ms`: the daily loss limit's UTC midnight; null: until
        a resume), or None while they are active."""
        risk = self.engine.risk
        if risk.state != "HALTED":
            return None
        return {"reason": risk.halted_reason, "until_ms": risk.halted_until_ms}

    @property
    def strategy_status(self) -> str:
        """The strategy's own account of itself now (why the AI scanner is silent, or how it keeps up)."""
        status = getattr(self.strategy, "status", None)
        return status if isinstance(status, str) else self._strategy_status

    def _scanner(self) -> JSON | None:
        """The AI scanner's counters (signals/scanner_health.py), its threshold, and `risk`: what risk decided on
        its signals (readmodels/refusals.py: approved, refused by kind with the first of each), so a bot that
        trades nothing says why while it runs (was: only a backtest's `why_no_trade` could). `stale`: no scan
        for `stale_after_s` (since start when none yet) while the feed still plays. None for a strategy
        without."""
        stats = getattr(self.strategy, "stats", None)
        if not isinstance(stats, ScannerStats):
            return None
        tally = tally_of(self.strategy) or {}
        snapshot = stats.snapshot()
        limit = stale_after_s(self.tape.interval_ms, 1.0 if self.settings.feed == "exchange" else
                              self.settings.speed_factor)
        since = snapshot["last_scan_age_s"]
        since = time.monotonic() - self.started if since is None else since
        return {**snapshot, "min_confidence": tally.get("min_confidence"), "stale_after_s": round(limit, 3),
                "stale": not self.feed.done and since > limit, "risk": self._strategy_decisions.to_json()}

    def _feed_stale(self, age: float | None) -> bool:
        if self.feed.done or self.settings.speed_factor is None:
            return False
        interval = 60.0 / self.settings.speed_factor
        return age is not None and age > max(3 * interval, 30.0)

    async def _view(self) -> ProtectionView:
        ex = self.engine.exchange
        positions, orders, account = await asyncio.gather(ex.positions(), ex.open_orders(), ex.account())
        return build_view(positions, orders, account)

    async def positions(self) -> JSON:
        return (await self._view()).positions_json()

    async def orders(self) -> JSON:
        return (await self._view()).orders_json()

    async def trades(self, limit: int = 100) -> JSON:
        return {"trades": await asyncio.to_thread(self.reader.trades, limit)}

    async def signals(self, limit: int = 100) -> JSON:
        """The signals, and why the strategy was silent when it was (`no_signal`: the latest ScannerSilent
        events, newest first: a refused model, a scan error, symbols with a missing input)."""
        rows = await asyncio.to_thread(self.reader.signals, limit)
        signals = await asyncio.to_thread(signals_json, self.reader, rows)  # with what became of each (`outcome`)
        silent = await asyncio.to_thread(self.reader.no_signals, NO_SIGNAL_SHOWN)
        return {"signals": signals, "no_signal": [no_signal_json(row) for row in silent]}

    async def audit(self, limit: int | None = None) -> JSON:
        """The stop audit of every closed position (`summary`, `breaches`, `count`), with the last `limit` of them
        (all without one) in `positions`: the dashboard shows 50, and the whole list was 1 MB at 1,671."""
        body = await asyncio.to_thread(self._audit.get)
        positions = body["positions"]
        return {**body, "count": len(positions), "positions": positions if limit is None else positions[-limit:]}

    async def readiness(self) -> JSON:
        return await asyncio.to_thread(self._readiness.get)

    async def equity(self, limit: int = 1000) -> JSON:
        return {"equity": await asyncio.to_thread(self.reader.equity, limit, self.account)}

    async def live(self) -> JSON:
        """The dashboard's live document (readmodels/dashboard.py): from memory, never the exchange once
        the monitor has swept, so open pages cost no request weight."""
        view = self.monitor.state.view or await self._view()
        now_ms = self.engine.clock.now_ms()
        naked = unprotected_seconds(self.monitor.state, now_ms)
        positions = mark_unprotected(view.positions_json(), naked)
        start = await asyncio.to_thread(self._day_start.equity, now_ms, view.account.equity)
        return {"health": await self.health(), "positions": positions, "orders": view.orders_json(),
                "unprotected_s": naked, "repair": self.engine.execution.exit_wording.repair,
                "pnl_today": pnl_today(start, view.account.equity), "revision": self.revision.value,
                "bar_open_time_ms": self.tape.last_open_time_ms, "time_ms": now_ms}

    async def candles(self, symbol: str, limit: int = 720) -> JSON:
        """The symbol's last bars, and its tick (null for a symbol not traded): the chart's price axis shows
        prices to the tick, so a 0.02934 stop does not read 0.03."""
        instrument = self.engine.execution.instruments.get(symbol)
        return {"symbol": symbol, "interval_ms": self.tape.interval_ms,
                "tick_size": None if instrument is None else fmt(instrument.tick_size),
                "candles": self.tape.candles(symbol, limit)}

    async def fills(self, symbol: str | None = None, limit: int = 200) -> JSON:
        return {"fills": await asyncio.to_thread(self.reader.fills, limit, symbol)}

    async def activity(self, limit: int = 50) -> JSON:
        """Recent protection actions and errors, newest first."""
        actions = await asyncio.to_thread(self.reader.protection_actions, limit)
        errors = await asyncio.to_thread(self.reader.errors, limit)
        return {"protection_actions": actions, "errors": errors}

    async def force_entry(self, symbol: str, side: str) -> JSON:
        """Risk's answer, and what became of the entry: publishing the signal returns once execution has sent it
        (or not), so an entry that opened nothing says why in `reason`. A dry run (staging) is accepted with
        `sent: false, dry_run: true` and "sent nothing (dry run): would buy ...", never as if it had been sent."""
        clock = self.engine.clock
        self._decisions.pop(symbol, None)
        self._not_opened.pop(symbol, None)
        await self.engine.bus.publish(Signal(symbol=symbol, direction=Direction(side), confidence=1.0, source=FORCED,
                                             time_ms=clock.now_ms(), reason="force-entry"))
        decision = self._decisions.get(symbol)
        if decision is None:
            return {"accepted": False, "reason": "risk gave no answer", "trade_id": None, "sent": False,
                    "dry_run": False}
        ended = self._not_opened.get(symbol)
        if ended is None or ended.trade_id != decision.trade_id:
            return {"accepted": decision.approved, "reason": decision.reason, "trade_id": decision.trade_id,
                    "sent": decision.approved, "dry_run": False}
        return {"accepted": decision.approved, "reason": f"{decision.reason}; {ended.reason}",
                "trade_id": decision.trade_id, "sent": ended.sent, "dry_run": ended.dry_run}

    async def resume(self) -> JSON:
        """The manual reset, journaled (runtime/startup.py): a restart keeps a halt only until it."""
        await resume_entries(self.engine)
        return {"trading": self.engine.risk.state}

    async def kill_switch(self) -> JSON:
        """This kill switch's result, never an earlier one's: a handler that raised (the bus journals the error)
        leaves `last` as it was, and the answer then says the account's state is unknown."""
        previous = self.kill.last
        await self.engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=self.engine.clock.now_ms()))
        result = self.kill.last
        if result is previous:
            result = KillSwitchResult(unread="the kill switch failed before it finished (see the errors): every "
                                             "position may still be open", wording=previous.wording)
        return {"cancelled_orders": result.cancelled_orders, "closed_positions": result.closed_positions,
                "would_cancel": result.would_cancel, "would_close": result.would_close, "refused": result.failed,
                "still_open": result.still_open, "positions_unknown": result.unknown, "summary": result.summary(),
                "entries_halted": self.engine.risk.state == "HALTED"}


def _first_equity_of_day(reader: JournalReader, account: str | None, day_start_ms: int) -> tuple[Decimal, int] | None:
    """The account's first journaled equity (equity, time_ms) of the UTC day starting at `day_start_ms` (None: no
    account named, or none yet)."""
    if account is None:
        return None
    return reader.day_start_equity(account, day_start_ms, day_start_ms + DAY_MS)


def _transfers_between(reader: JournalReader, account: str | None, start_ms: int, end_ms: int) -> Decimal:
    """The account's net transfers journaled in [start_ms, end_ms) (0: no account named)."""
    return Decimal(0) if account is None else reader.transfers_between(account, start_ms, end_ms)
