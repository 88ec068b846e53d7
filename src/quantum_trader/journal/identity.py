"""One trade per trade id, one entry per client id: the journal refuses a second one instead of merging it.

The journal's rows are keyed by trade id (`positions`) and client id (`orders`), and its statements
upsert on those keys. That is right for the life of one trade (an intent, then its answers; an open,
then its close) and wrong the moment two trades share an id: the second trade's open vanished into
the first one's row, its close overwrote the first one's realised P&L, and a second entry order's
fills were counted under the first one's client id. Ids are unique by construction now
(risk/trade_ids.py), and this guard makes any future collision loud:

- a `TradeOpened` under a trade id the journal already holds is refused;
- a `TradeClosed` for a trade already closed is refused (a close never overwrites another close);
- an entry intent under a client id that already has one is refused, and since execution sends
  nothing the journal did not record, the second entry never reaches the exchange.

A refusal raises `JournalConflict` (a `JournalWriteError`): the bus turns it into an `ErrorEvent`,
which the journal records, and execution does not send. What the journal holds is read once, the
first time it is needed, and then kept in memory (one entry per trade), so a backtest's batches cost
no extra query per row.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, union

from ..domain import events as ev
from ..domain.errors import JournalWriteError
from .models import OrderRow, PositionRow, RiskDecisionRow

ENTRY = "entry"


class JournalConflict(JournalWriteError):
    """A second trade (or entry order) under an id the journal already gave to another: refused, not merged."""


class Identities:
    """What the journal holds per trade id (open or closed) and which entry client ids it has seen."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._trades: dict[str, bool] | None = None  # trade id → closed
        self._entries: set[str] | None = None
        #: Client ids whose intent was refused: their later rejection must not touch the first order's row.
        self.refused: set[str] = set()

    def _load(self) -> tuple[dict[str, bool], set[str]]:
        if self._trades is None or self._entries is None:
            with self.engine.connect() as conn:  # a database error propagates: the caller says what it was doing
                rows = conn.execute(select(PositionRow.trade_id, PositionRow.exit_reason)).all()
                self._entries = set(conn.execute(select(OrderRow.client_id).where(OrderRow.purpose == ENTRY)).scalars())
            self._trades = {str(trade_id): closed is not None for trade_id, closed in rows}
        return self._trades, self._entries

    # --- checks (raise before anything is written) ------------------------------------------------
    def check_opened(self, event: ev.TradeOpened) -> None:
        trades, _ = self._load()
        if event.trade_id in trades:
            state = "closed" if trades[event.trade_id] else "open"
            raise JournalConflict(f"journal: trade {event.trade_id} ({event.symbol}) is already in the journal "
                                  f"({state}): a second trade under one id is refused, not merged")

    def check_closed(self, event: ev.TradeClosed) -> None:
        trades, _ = self._load()
        if trades.get(event.trade_id):
            raise JournalConflict(f"journal: trade {event.trade_id} ({event.symbol}) is already closed: a second "
                                  f"close ({event.exit_reason.value}) would overwrite its exit and P&L; refused")

    def check_intent(self, event: ev.OrderIntentRecorded) -> None:
        if event.purpose != ENTRY:
            return
        trades, entries = self._load()
        client_id = event.intent.client_id
        if client_id in entries or event.trade_id in trades:
            self.refused.add(client_id)
            raise JournalConflict(f"journal: client id {client_id} already has an entry order (trade "
                                  f"{event.trade_id}): a second entry under it is refused and not sent")

    # --- what was recorded ------------------------------------------------------------------------
    def opened(self, trade_id: str) -> None:
        self._load()[0][trade_id] = False

    def closed(self, trade_id: str) -> None:
        self._load()[0][trade_id] = True

    def intent(self, event: ev.OrderIntentRecorded) -> None:
        if event.purpose == ENTRY:
            self._load()[1].add(event.intent.client_id)

    # --- for the trade-id allocator ---------------------------------------------------------------
    def trade_ids_tagged(self, tag: str) -> set[str]:
        """Every trade id in the journal made with `tag` (`<SYMBOL>_<tag>_<n>`), wherever it appears."""
        marker = f"_{tag}_"
        query = union(*(select(col).where(col.contains(marker, autoescape=True))
                        for col in (PositionRow.trade_id, RiskDecisionRow.trade_id, OrderRow.trade_id)))
        with self.engine.connect() as conn:
            return {str(value) for value in conn.execute(query).scalars() if value is not None}
