"""The monitor's stream-fed view: positions and open orders as the exchange's events last described them.

On the live path a full REST reading costs request weight (positions, open orders, account: 18 to 90 of
Binance's 2,400 a minute), so it is paced (`reading_pace_s`), while the user-data stream reports every
order and position change within milliseconds and costs nothing. Between readings the monitor's rules
run on this view every interval: it measures how long each position has been without a working stop
and serves `/health`, and a symbol whose events left it without settled protection is read back over
REST at once. The view never decides a repair by itself: the monitor acts only on what a REST reading
of that symbol says (an event may arrive late or out of order), so a wrong view costs one read, never
a wrong order.

Each REST reading resets the view (all of it, or one symbol): events are the delta, readings the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.exchange_types import AccountSnapshot, OrderSnapshot, PositionSnapshot

OrderKey = tuple[bool, str]


def _key(order: OrderSnapshot) -> OrderKey:
    """Classic and algo ids are separate sequences on Binance: the API is part of the identity."""
    return order.conditional, order.venue_id or order.client_id


@dataclass
class StreamView:
    #: Open positions only (a flat position is removed).
    positions: dict[str, PositionSnapshot] = field(default_factory=dict)
    _orders: dict[str, dict[OrderKey, OrderSnapshot]] = field(default_factory=dict)
    #: The last account read over REST; between readings its equity is re-derived from the positions.
    account: AccountSnapshot | None = None
    #: Symbols an event has changed since they were last read over REST.
    changed: set[str] = field(default_factory=set)

    # --- events (the delta) ---------------------------------------------------------------------
    def apply_order(self, order: OrderSnapshot) -> None:
        book = self._orders.setdefault(order.symbol, {})
        if order.status.is_open:
            book[_key(order)] = order
        else:
            book.pop(_key(order), None)
        self.changed.add(order.symbol)

    def apply_position(self, position: PositionSnapshot) -> None:
        if position.amount == 0:
            self.positions.pop(position.symbol, None)
        else:
            self.positions[position.symbol] = position
        self.changed.add(position.symbol)

    def apply_wallet(self, wallet: Decimal) -> None:
        """The stream's wallet after a fill, funding or a transfer: the account read over REST is paced (30 s on
        the live path), and an equity point right after a stop-out must hold the loss it realised (it read the
        pre-loss wallet, and the daily loss limit learned of the loss a minute late). Absolute, so an update
        a reading already holds changes nothing; the available balance moves with it."""
        account = self.account
        if account is None:
            return
        moved = wallet - account.wallet
        self.account = AccountSnapshot(wallet=wallet, equity=account.equity + moved,
                                       available=account.available + moved)

    # --- REST readings (the truth) ----------------------------------------------------------------
    def reset(self, positions: Iterable[PositionSnapshot], orders: Iterable[OrderSnapshot],
              account: AccountSnapshot | None = None) -> None:
        """A full reading: everything it did not list is gone."""
        self.positions = {p.symbol: p for p in positions if p.amount != 0}
        self._orders = {}
        for order in orders:
            if order.status.is_open:
                self._orders.setdefault(order.symbol, {})[_key(order)] = order
        if account is not None:
            self.account = account
        self.changed.clear()

    def reset_symbol(self, symbol: str, position: PositionSnapshot | None, orders: Sequence[OrderSnapshot]) -> None:
        """A reading of one symbol (its position and its open orders)."""
        if position is None or position.amount == 0:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = position
        self._orders[symbol] = {_key(o): o for o in orders if o.symbol == symbol and o.status.is_open}
        self.changed.discard(symbol)

    # --- reading the view -------------------------------------------------------------------------
    def orders_of(self, symbol: str) -> list[OrderSnapshot]:
        return list(self._orders.get(symbol, {}).values())

    def all_orders(self) -> list[OrderSnapshot]:
        return [o for symbol in sorted(self._orders) for o in self._orders[symbol].values()]

    def symbols_with_orders(self) -> set[str]:
        return {symbol for symbol, book in self._orders.items() if book}

    def estimated_account(self) -> AccountSnapshot | None:
        """The last account read, its equity moved by the positions' unrealised P&L as the view knows it."""
        if self.account is None:
            return None
        unrealized = sum((p.unrealized for p in self.positions.values()), Decimal(0))
        return AccountSnapshot(wallet=self.account.wallet, equity=self.account.wallet + unrealized,
                               available=self.account.available)
