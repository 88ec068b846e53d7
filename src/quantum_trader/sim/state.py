"""Everything the simulator knows, in one plain container shared by its small behaviour modules.

Keeping state apart from behaviour lets placement, matching and stepping be separate modules of one
job each, without a god object; the `ExchangeSimulator` facade is the only public entry point.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from ..domain import binance_errors as be
from ..domain.enums import OrderType
from ..domain.fills import Fill
from ..domain.instrument import Instrument
from ..domain.money import ZERO
from ..domain.orders import AlgoOrder, Order
from .account import Account
from .events import Event, SimEvent
from .fees import FeeModel
from .funding import FundingRates, FundingSchedule
from .income import IncomeHistory
from .liquidity import LiquidityModel, VolatilityTracker
from .market import MarketState

#: 2026-01-01T00:00:00Z: an arbitrary, fixed start so event logs do not depend on the wall clock.
DEFAULT_START_MS = 1_767_225_600_000
_ID_ALPHABET = string.ascii_letters + string.digits
#: Base-62 digit pairs, lowest digit first: _ID_PAIRS[n] spells n % 62 then n // 62.
_ID_PAIRS = tuple(_ID_ALPHABET[n % 62] + _ID_ALPHABET[n // 62] for n in range(62 * 62))
_FINAL_ALGO = frozenset({"CANCELED", "FINISHED", "REJECTED", "EXPIRED"})
_T = TypeVar("_T", Order, AlgoOrder)


def _open_in(index: dict[str, dict[int, _T]], symbol: str | None) -> list[_T]:
    if symbol is not None:  # the hot path (settle asks several times per price step): no copy, no purge
        bucket = index.get(symbol)
        if not bucket:
            return []
        found_one = list(bucket.values())
        if all(item.is_open for item in found_one):
            return found_one
    buckets = [index.get(symbol, {})] if symbol is not None else [index[s] for s in sorted(index)]
    found: list[_T] = []
    for bucket in buckets:
        closed = [key for key, item in bucket.items() if not item.is_open]
        for key in closed:
            del bucket[key]
        found.extend(bucket.values())
    if symbol is None:
        found.sort(key=lambda item: item.order_id if isinstance(item, Order) else item.algo_id)
    return found


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 7
    balance: Decimal = Decimal("10000")
    default_leverage: int = 20
    start_time_ms: int = DEFAULT_START_MS
    #: Share of mark-minus-last basis kept on a step that feeds only a last price.
    mark_basis_decay: Decimal = ZERO
    #: Range allowed for a trailing stop's callbackRate in percent (sources disagree: 5 or 10).
    callback_rate_min: Decimal = Decimal("0.1")
    callback_rate_max: Decimal = Decimal("10")
    #: Keep every event, order and fill in memory. Long replays turn this off and pass an event sink,
    #: so memory stays flat however many bars go through.
    retain_history: bool = True


@dataclass(slots=True)
class SimState:
    config: SimConfig
    instruments: dict[str, Instrument]
    account: Account
    fees: FeeModel
    liquidity: LiquidityModel
    volatility: VolatilityTracker
    funding_schedule: FundingSchedule
    funding_rates: FundingRates
    now_ms: int
    markets: dict[str, MarketState] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    algos: dict[int, AlgoOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Transfers and funding payments (sim/income.py): kept whatever `retain_history` says (for Binance's three
    #: months), as they are few and a restart reads them back (the daily loss limit, an open trade's funding).
    income: IncomeHistory = field(default_factory=IncomeHistory)
    next_order_id: int = 4_000_000_001
    next_algo_id: int = 1_000_000_000_000_001
    next_trade_id: int = 700_000_001
    last_funding_ms: int = 0
    rng: random.Random = field(default_factory=random.Random)
    event_sink: Callable[[SimEvent], None] | None = None
    _open_orders: dict[str, dict[int, Order]] = field(default_factory=dict)
    _open_algos: dict[str, dict[int, AlgoOrder]] = field(default_factory=dict)
    _order_client_ids: dict[str, Order] = field(default_factory=dict)
    _algo_client_ids: dict[str, AlgoOrder] = field(default_factory=dict)
    #: No funding is due before this time (a cache: recomputed whenever the clock passes it).
    funding_due_ms: int = 0
    #: When the simulator next drops the orders Binance no longer finds (sim/order_memory.py).
    forget_due_ms: int = 0
    #: No order kept can be forgotten at or before this time (a cache of order_memory.py's last pass; 0: look).
    forget_none_until_ms: int = 0
    #: Isolated liquidation prices by position, with the (amount, entry, isolated wallet) objects they
    #: were computed from; owned by liquidation.position_liquidation_price.
    liquidation_cache: dict[int, tuple[object, ...]] = field(default_factory=dict)

    # --- lookups ----------------------------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise be.invalid_symbol()
        return inst

    def replace_instrument(self, instrument: Instrument) -> None:
        """A symbol's instrument changed (its filters, as Binance changes them): the lookups and its market see it."""
        self.instrument(instrument.symbol)
        self.instruments[instrument.symbol] = instrument
        market = self.markets.get(instrument.symbol)
        if market is not None:
            market.instrument = instrument

    def market(self, symbol: str) -> MarketState:
        market = self.markets.get(symbol)
        if market is None:
            inst = self.instrument(symbol)
            price = inst.typical_price if inst.typical_price > 0 else inst.price_filter.min_price * 1000
            market = MarketState(inst, price, price, self.config.mark_basis_decay)
            self.markets[symbol] = market
        return market

    def mark_of(self, symbol: str) -> Decimal:
        market = self.markets.get(symbol)  # the common case without a second call (equity sums every position)
        return (market if market is not None else self.market(symbol)).mark

    def add_order(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self._open_orders.setdefault(order.symbol, {})[order.order_id] = order
        self._order_client_ids[order.client_order_id] = order

    def add_algo(self, algo: AlgoOrder) -> None:
        self.algos[algo.algo_id] = algo
        self._open_algos.setdefault(algo.symbol, {})[algo.algo_id] = algo
        self._algo_client_ids[algo.client_algo_id] = algo

    def open_client_id_taken(self, client_id: str, *, algo: bool) -> bool:
        """Client ids must be unique among open orders (classic and algo ids are separate spaces)."""
        holder = (self._algo_client_ids if algo else self._order_client_ids).get(client_id)
        return holder is not None and holder.is_open

    def newest_open_with_client_id(self, client_id: str, *, algo: bool) -> Order | AlgoOrder | None:
        """The most recent order given `client_id`, if it is still open and still known (else None).

        The index holds the newest order of each client id; an open one is the answer a scan of every
        order would give (the newest open match), without the scan: the engine reads back every stop it
        places, and with hundreds of positions the scan was most of the read-back.
        """
        holder = (self._algo_client_ids if algo else self._order_client_ids).get(client_id)
        if holder is None or not holder.is_open:
            return None
        known: Order | AlgoOrder | None = (self.algos.get(holder.algo_id) if isinstance(holder, AlgoOrder)
                                           else self.orders.get(holder.order_id))
        return holder if known is holder else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open classic orders in id order, from a per-symbol index that drops closed ones as it goes."""
        return _open_in(self._open_orders, symbol)

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        return _open_in(self._open_algos, symbol)

    # --- ids and time -----------------------------------------------------------------------------
    def new_order_id(self) -> int:
        self.next_order_id += 1
        return self.next_order_id - 1

    def new_algo_id(self) -> int:
        self.next_algo_id += 1
        return self.next_algo_id - 1

    def new_trade_id(self) -> int:
        self.next_trade_id += 1
        return self.next_trade_id - 1

    def generated_client_id(self) -> str:
        """Binance generates 22 random characters when a client sends none; ours come from the seed."""
        value = self.rng.getrandbits(131)  # 62**22 > 2**130: one draw, 22 base-62 digits, lowest first
        pairs = []
        for _ in range(11):  # two digits per divmod: the id is made on every order placed
            value, pair = divmod(value, 3844)
            pairs.append(_ID_PAIRS[pair])
        return "".join(pairs)

    def emit(self, event: SimEvent) -> SimEvent:
        """The event to the log (its wire form, with `retain_history`) and to the listeners (the event itself)."""
        if self.config.retain_history:
            self.events.append(event.wire())
        if self.event_sink is not None:
            self.event_sink(event)
        return event

    def record_fill(self, fill: Fill) -> None:
        if self.config.retain_history:
            self.fills.append(fill)

    def forget_client_id(self, order: Order) -> None:
        """`order` is forgotten: its client id no longer leads to it."""
        if self._order_client_ids.get(order.client_order_id) is order:
            del self._order_client_ids[order.client_order_id]

    def prune_finished(self) -> int:
        """Forget orders that can no longer change (Binance, too, forgets old closed orders)."""
        done = [oid for oid, o in self.orders.items() if not o.is_open]
        for oid in done:
            del self.orders[oid]
        finished = [aid for aid, a in self.algos.items() if a.status.value in _FINAL_ALGO]
        for aid in finished:
            del self.algos[aid]
        self._order_client_ids = {k: o for k, o in self._order_client_ids.items() if o.is_open}
        self._algo_client_ids = {k: a for k, a in self._algo_client_ids.items() if a.is_open}
        return len(done) + len(finished)

    def open_order_margin(self) -> Decimal:
        """Initial margin held by resting LIMIT orders that would add exposure (classic orders only)."""
        held = ZERO
        for bucket in self._open_orders.values():
            if not bucket:
                continue
            for order in bucket.values():
                if not order.is_open or order.reduce_only or order.type is not OrderType.LIMIT:
                    continue
                held += order.remaining_qty * order.price / self.account.leverage_of(order.symbol)
        return held
