"""Read side of the journal: queries that return JSON-ready dicts for the API, CLI, audit and restart.

Decimals come back as strings as the rest of the bot writes them (`fmt`: plain notation, "0.00000001", no
trailing zeros), the very number stored, so an answer can go to `json.dumps` unchanged and a caller that needs
arithmetic parses them with `Decimal(...)`. The stored text kept a tick's zeros (BNBUSDT's tick is `0.010`, so a
stop read `672.150`), which users saw beside `672.15` for the same stop read from the exchange.
Lists are newest first unless a method says otherwise.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, ColumnElement, Engine, Select, Table, func, inspect, select

from ..domain.events import DAILY_REFERENCE, FUNDING, TRANSFER
from ..domain.money import fmt
from .codec import INTENT, KILL_SWITCH, RESUME
from .db import create_engine_for
from .models import (
    EquitySnapshotRow,
    ErrorRow,
    FillRow,
    InstrumentRow,
    JournalIdentityRow,
    OrderEventRow,
    OrderRow,
    PositionChangeRow,
    PositionRow,
    ProtectionActionRow,
    RiskDecisionRow,
    SessionRow,
    SignalRow,
)

JsonRow = dict[str, Any]
DECISION_COLUMNS = ("approved", "reason", "trade_id", "quantity", "planned_stop", "planned_take_profit",
                    "planned_loss", "leverage", "time_ms")


def _jsonable(value: Any) -> Any:
    return fmt(value) if isinstance(value, Decimal) else value


#: Trade ids per `IN (...)` query: readiness asks about every approved signal of the journal, and a long staging
#: run approves thousands a day, past PostgreSQL's 65,535 bind parameters (and SQLite's limit) in one query.
IN_PIECE = 10_000


def _pieces(ids: Collection[str]) -> list[list[str]]:
    listed = list(ids)
    return [listed[i:i + IN_PIECE] for i in range(0, len(listed), IN_PIECE)]


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


#: What an exit nobody knows leaves empty (journal/codec.py `trade_closed_rows`).
UNKNOWN_EXIT_BLANKS = ("exit_price", "realized_pnl", "fees", "funding", "closed_ms")


def _unknown_exit_blank(row: JsonRow) -> JsonRow:
    """An exit found with no exchange record, journaled before such exits were left empty, carries stand-ins
    (exit price = entry price, zero P&L and fees, a closing time of the restart's or the opening's): read
    them as unknown. Told apart by exactly those stand-ins, since an `unknown` reason alone also marks exits
    found in fills of an order the exchange did not name, whose figures are real."""
    if (row.get("exit_reason") == "unknown" and row.get("exit_price") is not None
            and Decimal(str(row["exit_price"])) == Decimal(str(row["entry"]))
            and Decimal(str(row.get("realized_pnl") or 0)) == 0 and Decimal(str(row.get("fees") or 0)) == 0):
        row.update(dict.fromkeys(UNKNOWN_EXIT_BLANKS))
    return row


class JournalReader:
    """Queries over a journal database; safe to use while a writer is running (WAL on SQLite)."""

    def __init__(self, source: str | Engine) -> None:
        self._owns_engine = isinstance(source, str)
        self.engine = create_engine_for(source) if isinstance(source, str) else source
        self._existing: dict[str, set[str]] = {}

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def _rows(self, query: Select[Any]) -> list[JsonRow]:
        with self.engine.connect() as conn:
            return [{k: _jsonable(v) for k, v in row.items()} for row in conn.execute(query).mappings()]

    def trades(self, limit: int = 100) -> list[JsonRow]:
        """Open and closed positions, newest opening first; `status` is `open` or `closed`."""
        t = _table(PositionRow)
        rows = self._rows(select(t).order_by(t.c.opened_ms.desc(), t.c.trade_id.desc()).limit(limit))
        for row in rows:
            row["status"] = "open" if row["exit_reason"] is None else "closed"
        return [_unknown_exit_blank(row) for row in rows]

    def open_trades(self) -> list[JsonRow]:
        """Positions the journal believes open (no close recorded), oldest first: what a restart reconciles."""
        t = _table(PositionRow)
        return self._rows(select(t).where(t.c.exit_reason.is_(None)).order_by(t.c.opened_ms, t.c.trade_id))

    def entries_without_trade(self) -> list[JsonRow]:
        """Entry orders the exchange filled whose trade the journal never opened (a crash between the fill and
        the trade's record), oldest first, each with its risk decision's plan (`decision_*`, None if absent)
        and the signal's confidence: a restart opens those trades before it reconciles."""
        o, t, d = _table(OrderRow), _table(PositionRow), _table(RiskDecisionRow)
        plan = [d.c[name].label(f"decision_{name}") for name in ("planned_stop", "planned_take_profit",
                                                                  "planned_loss", "leverage", "confidence")]
        query = (select(o, *plan)
                 .select_from(o.outerjoin(t, t.c.trade_id == o.c.trade_id)
                              .outerjoin(d, (d.c.trade_id == o.c.trade_id) & d.c.approved))
                 .where(o.c.purpose == "entry", o.c.trade_id.is_not(None), t.c.trade_id.is_(None),
                        o.c.dry_run.is_(False), o.c.filled.is_not(None))
                 .order_by(o.c.created_ms, o.c.client_id))
        return [row for row in self._rows(query) if Decimal(str(row["filled"])) > 0]

    def equity_before(self, time_ms: int) -> Decimal | None:
        """The last equity snapshot at or before `time_ms` (None: none was taken)."""
        e = _table(EquitySnapshotRow)
        with self.engine.connect() as conn:
            value = conn.execute(select(e.c.equity).where(e.c.time_ms <= time_ms)
                                 .order_by(e.c.time_ms.desc(), e.c.id.desc()).limit(1)).scalar()
        return None if value is None else Decimal(str(value))

    def day_start_equity(self, account: str, start_ms: int, end_ms: int) -> tuple[Decimal, int] | None:
        """The first equity snapshot (equity, time_ms) in [start_ms, end_ms) of a session that traded `account`
        (`sessions.account`): the daily loss limit's reference for a restart mid-day. None: that account has
        none in the window (sessions from before migration 0005 and backtests name no account)."""
        e, s = _table(EquitySnapshotRow), _table(SessionRow)
        query = (select(e.c.equity, e.c.time_ms).select_from(e.join(s, e.c.session_id == s.c.id))
                 .where(s.c.account == account, e.c.time_ms >= start_ms, e.c.time_ms < end_ms)
                 .order_by(e.c.time_ms, e.c.id).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (Decimal(str(row[0])), int(row[1]))

    def closed_positions(self) -> list[JsonRow]:
        """Every closed position with all its columns, in closing order: the stop audit's input. An unknown
        exit has no closing time: it is placed at its opening time (it closed some time after it)."""
        t = _table(PositionRow)
        order = func.coalesce(t.c.closed_ms, t.c.opened_ms)
        rows = self._rows(select(t).where(t.c.exit_reason.is_not(None)).order_by(order, t.c.trade_id))
        return [_unknown_exit_blank(row) for row in rows]

    def signals(self, limit: int = 100) -> list[JsonRow]:
        """Signals newest first, each with `decision` (risk's answer) or None if risk never answered."""
        s, d = _table(SignalRow), _table(RiskDecisionRow)
        decision_cols = [d.c[name].label(f"decision_{name}") for name in DECISION_COLUMNS]
        query = (select(*self._columns_of(s), d.c.id.label("decision_id"), *decision_cols)
                 .select_from(s.outerjoin(d, d.c.signal_id == s.c.id))
                 .order_by(s.c.time_ms.desc(), s.c.id.desc()).limit(limit))
        result = []
        for row in self._rows(query):
            decision = {name: row.pop(f"decision_{name}") for name in DECISION_COLUMNS}
            columns = {c.name: row.get(c.name) for c in s.c}  # a journal from before 0003 reads its scores as None
            result.append({**columns, "decision": decision if row.pop("decision_id") is not None else None})
        return result

    def trade_sources(self) -> dict[str, str]:
        """The `source` of the signal that opened each trade, by trade id (through risk's approving decision):
        a strategy's name, or `force` for a forced entry. A trade without one (a position opened outside the
        bot and adopted, or a decision journaled without its signal) is absent: readiness tells trades the
        strategy opened from the others with it."""
        s, d = _table(SignalRow), _table(RiskDecisionRow)
        query = (select(d.c.trade_id, s.c.source).select_from(d.join(s, s.c.id == d.c.signal_id))
                 .where(d.c.approved, d.c.trade_id.is_not(None)))
        return {str(row["trade_id"]): str(row["source"]) for row in self._rows(query)}

    def entry_orders(self, trade_ids: Collection[str]) -> list[JsonRow]:
        """The entry orders (every attempt) of these trades, oldest first: what became of an approved signal."""
        o = _table(OrderRow)
        rows = [row for ids in _pieces(trade_ids)
                for row in self._rows(select(o).where(o.c.purpose == "entry", o.c.trade_id.in_(ids)))]
        return sorted(rows, key=lambda row: (row["created_ms"], row["client_id"]))

    def recorded_trades(self, trade_ids: Collection[str]) -> set[str]:
        """Which of these trades the journal holds a `positions` row of (opened, whatever became of it since)."""
        t = _table(PositionRow)
        with self.engine.connect() as conn:
            return {str(i) for ids in _pieces(trade_ids)
                    for i in conn.execute(select(t.c.trade_id).where(t.c.trade_id.in_(ids))).scalars()}

    def risk_decisions(self, limit: int = 100) -> list[JsonRow]:
        d = _table(RiskDecisionRow)
        return self._rows(select(d).order_by(d.c.time_ms.desc(), d.c.id.desc()).limit(limit))

    def orders(self, limit: int = 100) -> list[JsonRow]:
        """Orders by latest change, newest first."""
        o = _table(OrderRow)
        return self._rows(select(o).order_by(o.c.updated_ms.desc(), o.c.client_id).limit(limit))

    def order_events(self, client_id: str) -> list[JsonRow]:
        """The status history of one order, in order."""
        e = _table(OrderEventRow)
        return self._rows(select(e).where(e.c.client_id == client_id).order_by(e.c.time_ms, e.c.id))

    def filled_protection(self, purpose: str) -> list[JsonRow]:
        """The trades' own protection orders of one purpose (`sl`, `tp`) that filled, oldest change first: the
        stop audit measures a stop-loss fill against the trigger of the order that filled, not its plan."""
        o = _table(OrderRow)
        query = (select(o).where(o.c.purpose == purpose, o.c.trade_id.is_not(None), o.c.avg_price.is_not(None))
                 .order_by(o.c.updated_ms, o.c.client_id))
        return [row for row in self._rows(query) if Decimal(str(row["filled"] or 0)) > 0]

    def first_protection(self, trade_id: str) -> dict[str, Decimal]:
        """The trigger price of the first stop-loss (`sl`) and take-profit (`tp`) journaled for a trade, by
        purpose: the levels execution placed for its entry fill, which the trade was opened with."""
        o = _table(OrderRow)
        query = (select(o.c.purpose, o.c.trigger_price)
                 .where(o.c.trade_id == trade_id, o.c.purpose.in_(("sl", "tp")), o.c.trigger_price.is_not(None))
                 .order_by(o.c.created_ms.desc(), o.c.client_id.desc()))
        return {str(row["purpose"]): Decimal(str(row["trigger_price"])) for row in self._rows(query)}  # first wins

    def client_ids_of_trade(self, trade_id: str) -> list[str]:
        """Every client id journaled for one trade: after a restart, new attempts start above them."""
        o = _table(OrderRow)
        with self.engine.connect() as conn:
            return [str(c) for c in conn.execute(select(o.c.client_id).where(o.c.trade_id == trade_id)).scalars()]

    def pending_intents(self) -> list[JsonRow]:
        """Orders journaled as intents and never answered: sent or not, the exchange must be asked after a crash."""
        o = _table(OrderRow)
        return self._rows(select(o).where(o.c.status == INTENT).order_by(o.c.created_ms, o.c.client_id))

    def fills(self, limit: int = 100, symbol: str | None = None) -> list[JsonRow]:
        """Newest first; `symbol`: that symbol's only (the dashboard marks them on its price chart)."""
        f = _table(FillRow)
        query = select(f) if symbol is None else select(f).where(f.c.symbol == symbol)
        return self._rows(query.order_by(f.c.time_ms.desc(), f.c.id.desc()).limit(limit))

    def fills_since(self, symbol: str, since_ms: int, own_prefix: str | None = None) -> list[JsonRow]:
        """The symbol's fills at or after `since_ms`, and those whose client id starts with `own_prefix` whenever
        they were stamped, in the order they were journaled (heard): what a restart picks an open trade's fills
        from (trading/trades.py `own_fills`). A paper fill carries the simulator's time, which can lag the
        session's by more than a bar (the bar is played at its open, the trade opened on the session's clock
        at its close): a time window alone lost the entry fee of such a trade under load."""
        f = _table(FillRow)
        when = f.c.time_ms >= since_ms
        if own_prefix is not None:
            when = when | f.c.client_id.startswith(own_prefix, autoescape=True)
        return self._rows(select(f).where(f.c.symbol == symbol, when).order_by(f.c.id))

    def trade_funding(self, trade_id: str) -> list[tuple[int, Decimal]]:
        """The funding payments journaled under one trade, (time_ms, amount) in the order written (action
        `funding`, signed: + received, - paid; the time is the exchange's, which tells a payment a restart finds
        in the income history from one already counted)."""
        p = _table(ProtectionActionRow)
        query = select(p.c.time_ms, p.c.price).where(p.c.action == FUNDING, p.c.trade_id == trade_id).order_by(p.c.id)
        with self.engine.connect() as conn:
            return [(int(row[0]), Decimal(str(row[1]))) for row in conn.execute(query) if row[1] is not None]

    def equity(self, limit: int = 1000, account: str | None = None) -> list[JsonRow]:
        """The latest `limit` snapshots in time order (oldest first), ready to draw as a curve; given `account`,
        only its sessions' (after `paper-reset` the curve and its drawdown are the fresh account's alone)."""
        e, s = _table(EquitySnapshotRow), _table(SessionRow)
        latest = select(e).order_by(e.c.time_ms.desc(), e.c.id.desc()).limit(limit)
        if account is not None:
            latest = latest.where(e.c.session_id.in_(select(s.c.id).where(s.c.account == account)))
        return list(reversed(self._rows(latest)))

    def protection_actions(self, limit: int = 100) -> list[JsonRow]:
        p = _table(ProtectionActionRow)
        return self._rows(select(p).order_by(p.c.time_ms.desc(), p.c.id.desc()).limit(limit))

    def kills_since_resume(self, account: str | None = None, daily_prefix: str | None = None,
                           ) -> list[tuple[str, int]]:
        """The kill switches (reason, time_ms) recorded after the last manual resume, in the order written: the
        halt a restarting session must keep (risk/manager.py `restore_halt`). A backtest's are left out: it
        trades no account, and its daily-loss kill switches carry historical times. Given `account` and
        `daily_prefix` (how a daily-loss kill switch's reason begins), a daily one of another named account is
        left out too: a fresh paper account after `paper-reset` did not lose that day's money."""
        p, s = _table(ProtectionActionRow), _table(SessionRow)
        last_resume = select(func.max(p.c.id)).where(p.c.symbol == "*", p.c.action == RESUME).scalar_subquery()
        query = (select(p.c.reason, p.c.time_ms).select_from(p.outerjoin(s, p.c.session_id == s.c.id))
                 .where(p.c.symbol == "*", p.c.action == KILL_SWITCH, p.c.id > func.coalesce(last_resume, 0),
                        s.c.mode.is_distinct_from("backtest"))  # a row without a session counts
                 .order_by(p.c.id))
        if account is not None and daily_prefix is not None:
            query = query.where(~(p.c.reason.startswith(daily_prefix, autoescape=True) & _another(s, account)))
        return [(str(row["reason"]), int(row["time_ms"])) for row in self._rows(query)]

    def day_references(self, account: str, start_ms: int, end_ms: int) -> list[tuple[Decimal | None, int]]:
        """The daily loss limit's references of `account` journaled in [start_ms, end_ms) (action `daily_reference`),
        in the order written: (equity, time_ms), equity None when a manual resume began a new allowance that no
        equity point had measured yet. The last is the one in force; the others tell which transfers moved it
        (risk/daily_loss.py `undated_moves`)."""
        p, s = _table(ProtectionActionRow), _table(SessionRow)
        query = (select(p.c.price, p.c.time_ms).select_from(p.join(s, p.c.session_id == s.c.id))
                 .where(p.c.symbol == "*", p.c.action == DAILY_REFERENCE, s.c.account == account,
                        p.c.time_ms >= start_ms, p.c.time_ms < end_ms)
                 .order_by(p.c.id))
        with self.engine.connect() as conn:
            return [(None if row[0] is None else Decimal(str(row[0])), int(row[1])) for row in conn.execute(query)]

    def transfer_amounts(self, account: str, start_ms: int, end_ms: int) -> list[Decimal]:
        """Each amount moved in (+) or out (-) of `account`'s wallet in [start_ms, end_ms) (action `transfer`,
        journal/codec.py `transfer_rows`), in the order written."""
        p, s = _table(ProtectionActionRow), _table(SessionRow)
        query = (select(p.c.price).select_from(p.join(s, p.c.session_id == s.c.id))
                 .where(p.c.symbol == "*", p.c.action == TRANSFER, s.c.account == account, p.c.price.is_not(None),
                        p.c.time_ms >= start_ms, p.c.time_ms < end_ms)
                 .order_by(p.c.id))
        with self.engine.connect() as conn:
            return [Decimal(str(price)) for price in conn.execute(query).scalars()]

    def transfers_between(self, account: str, start_ms: int, end_ms: int) -> Decimal:
        """The net amount moved in (+) or out (-) of `account`'s wallet in [start_ms, end_ms): what "today's P&L"
        leaves out."""
        return sum(self.transfer_amounts(account, start_ms, end_ms), Decimal(0))

    def protection_actions_named(self, action: str) -> list[JsonRow]:
        """Every protection action of one kind, oldest first (the audit reads `stop_triggered` ones)."""
        p = _table(ProtectionActionRow)
        return self._rows(select(p).where(p.c.action == action).order_by(p.c.time_ms, p.c.id))

    def errors(self, limit: int = 100) -> list[JsonRow]:
        e = _table(ErrorRow)
        return self._rows(select(e).order_by(e.c.time_ms.desc(), e.c.id.desc()).limit(limit))

    def no_signals(self, limit: int = 20) -> list[JsonRow]:
        """A strategy's "no signal" events (ScannerSilent, journal/codec.py `silent_rows`), newest first: the
        errors rows whose details say kind `no_signal`."""
        e = _table(ErrorRow)
        marked = e.c.details.like('%"kind": "no_signal"%')
        return self._rows(select(e).where(marked).order_by(e.c.time_ms.desc(), e.c.id.desc()).limit(limit))

    def position_changes(self, limit: int = 100) -> list[JsonRow]:
        """The exchange's reports of positions, newest first."""
        p = _table(PositionChangeRow)
        return self._rows(select(p).order_by(p.c.time_ms.desc(), p.c.id.desc()).limit(limit))

    def instruments(self) -> list[JsonRow]:
        i = _table(InstrumentRow)
        return self._rows(select(i).order_by(i.c.symbol))

    def sessions(self) -> list[JsonRow]:
        """Every session, newest first, with the path it ran on (`adapter`, `exchange_url`, `clock`, `speed`)."""
        s = _table(SessionRow)
        return self._present(s, select(*self._columns_of(s)).order_by(s.c.id.desc()))

    def identity(self) -> str | None:
        """The journal's random id (migration 0004); None for a journal from before it."""
        if "journal_identity" not in inspect(self.engine).get_table_names():
            return None
        j = _table(JournalIdentityRow)
        rows = self._rows(select(j.c.id).order_by(j.c.id).limit(1))
        return str(rows[0]["id"]) if rows else None

    def heartbeats(self) -> list[JsonRow]:
        """The monitor's heartbeats (equity snapshots) as `session_id`, `time_ms`, `wall_ms`, per session in
        session-time order: what readiness measures the clean hour on (only the columns it needs)."""
        e = _table(EquitySnapshotRow)
        wanted = [c for c in self._columns_of(e) if c.name in ("session_id", "time_ms", "wall_ms")]
        return self._present(e, select(*wanted).order_by(e.c.session_id, e.c.time_ms, e.c.id),
                             ("session_id", "time_ms", "wall_ms"))

    def _columns_of(self, table: Table) -> list[Column[Any]]:
        """The table's columns the database has. `readiness` and `audit` read a journal without migrating it
        (they may run on a copy, read-only), so a journal from before migrations 0002 and 0003 must still be readable:
        the columns it lacks read as None."""
        names = self._existing.get(table.name)
        if names is None:
            names = self._existing[table.name] = {c["name"] for c in inspect(self.engine).get_columns(table.name)}
        return [c for c in table.c if c.name in names]

    def _present(self, table: Table, query: Select[Any], names: tuple[str, ...] | None = None) -> list[JsonRow]:
        keys = names or tuple(c.name for c in table.c)
        return [{k: row.get(k) for k in keys} for row in self._rows(query)]


def _another(sessions: Table, account: str) -> ColumnElement[bool]:
    """A row journaled by a session of another named account (one without a name, from before migration 0005,
    is not known to be another's)."""
    return sessions.c.account.is_not(None) & (sessions.c.account != account)
