"""`ExchangeSimulator`: the public face of the simulator, one method per thing Binance lets you do.

It takes requests in Binance's own vocabulary (raw parameter mappings, as they arrive over HTTP) and
answers with domain objects or `OrderRejected` carrying Binance's code and message. Each call that
moves the world returns the events it caused; `events` keeps the whole log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from ..domain import binance_errors as be
from ..domain.enums import AlgoStatus, MarginType, PositionSide
from ..domain.instrument import Instrument
from ..domain.money import to_decimal
from ..domain.orders import AlgoOrder, Order
from ..domain.position import LossReport, Position
from . import cancel as cx
from . import events as ev
from .account import Account
from .barpath import intrabar_path
from .fees import FeeModel
from .funding import FundingRates, FundingSchedule
from .income import TRANSFER
from .liquidation import position_liquidation_price
from .liquidity import LiquidityModel, VolatilityTracker
from .margin import check_leverage
from .market import PriceUpdate
from .order_memory import forget_old_orders
from .params import Params, parse_algo_order, parse_classic_order
from .placement import place_algo, place_classic
from .settings import apply_funding_until, change_margin_type, change_position_mode
from .state import SimConfig, SimState
from .stepping import jump, move_continuous

PriceLike = PriceUpdate | Decimal | str | int
_P = ParamSpec("_P")
_R = TypeVar("_R")
_Method = Callable[Concatenate["ExchangeSimulator", _P], _R]


class ChangeListener(Protocol):
    """Told after every call that may have changed the simulator (sim/paper_store.py saves the paper account).

    `market_only`: the call only moved the market or the clock; it may still have caused events (a stop
    filled by the move, funding), which the listener hears through the event sink.
    """

    def changed(self, *, market_only: bool) -> None: ...

    def close(self) -> None: ...


def _changes(*, market_only: bool) -> Callable[[_Method[_P, _R]], _Method[_P, _R]]:
    """Tell the listener when the call returns, or raises (a refused order may still have drawn an id)."""

    def wrap(method: _Method[_P, _R]) -> _Method[_P, _R]:
        @functools.wraps(method)
        def call(self: ExchangeSimulator, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(self, *args, **kwargs)
            finally:
                if self.listener is not None:
                    self.listener.changed(market_only=market_only)

        return call

    return wrap


class ExchangeSimulator:
    """A Binance USDⓈ-M futures account and market, deterministic for a given config and inputs."""

    def __init__(self, instruments: Mapping[str, Instrument] | Iterable[Instrument] | None = None,
                 config: SimConfig | None = None, *, fees: FeeModel | None = None,
                 liquidity: LiquidityModel | None = None, funding_rates: FundingRates | None = None,
                 funding_schedule: FundingSchedule | None = None) -> None:
        config = config or SimConfig()
        table = _instrument_table(instruments)
        self.state = SimState(
            config=config, instruments=table,
            account=Account(config.balance, default_leverage=config.default_leverage),
            fees=fees or FeeModel(), liquidity=liquidity or LiquidityModel(), volatility=VolatilityTracker(),
            funding_schedule=funding_schedule or FundingSchedule(), funding_rates=funding_rates or FundingRates(),
            now_ms=config.start_time_ms, last_funding_ms=config.start_time_ms,
        )
        self.state.rng.seed(config.seed)
        self.listener: ChangeListener | None = None

    # --- orders -----------------------------------------------------------------------------------
    @_changes(market_only=False)
    def new_order(self, params: Params) -> Order:
        """`POST /fapi/v1/order`."""
        return place_classic(self.state, parse_classic_order(params))

    @_changes(market_only=False)
    def new_algo_order(self, params: Params) -> AlgoOrder:
        """`POST /fapi/v1/algoOrder` (algoType=CONDITIONAL)."""
        return place_algo(self.state, parse_algo_order(params))

    @_changes(market_only=False)
    def cancel_order(self, symbol: str, order_id: int | None = None, client_order_id: str | None = None) -> Order:
        self.state.instrument(symbol)
        return cx.cancel_order(self.state, cx.find_order(self.state, symbol, order_id, client_order_id))

    @_changes(market_only=False)
    def cancel_algo_order(self, algo_id: int | None = None, client_algo_id: str | None = None) -> AlgoOrder:
        return cx.cancel_algo(self.state, cx.find_algo(self.state, algo_id, client_algo_id))

    @_changes(market_only=False)
    def cancel_all_orders(self, symbol: str) -> list[Order]:
        self.state.instrument(symbol)
        return [cx.cancel_order(self.state, o) for o in sorted(self.state.open_orders(symbol),
                                                                 key=lambda o: o.order_id)]

    @_changes(market_only=False)
    def cancel_all_algo_orders(self, symbol: str) -> list[AlgoOrder]:
        self.state.instrument(symbol)
        return [cx.cancel_algo(self.state, a) for a in sorted(self.state.open_algos(symbol),
                                                               key=lambda a: a.algo_id) if a.status is AlgoStatus.NEW]

    def query_order(self, symbol: str, order_id: int | None = None, client_order_id: str | None = None) -> Order:
        self.state.instrument(symbol)
        order = cx.find_order(self.state, symbol, order_id, client_order_id)
        if order is None:
            raise be.order_does_not_exist()
        return order

    def query_algo_order(self, algo_id: int | None = None, client_algo_id: str | None = None) -> AlgoOrder:
        algo = cx.find_algo(self.state, algo_id, client_algo_id)
        if algo is None:
            raise be.order_does_not_exist()
        return algo

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return sorted(self.state.open_orders(symbol), key=lambda o: o.order_id)

    def open_algo_orders(self, symbol: str | None = None) -> list[AlgoOrder]:
        return sorted(self.state.open_algos(symbol), key=lambda a: a.algo_id)

    def all_algo_orders(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.state.algos.values() if symbol is None or a.symbol == symbol]

    def all_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.state.orders.values() if symbol is None or o.symbol == symbol]

    # --- account settings -------------------------------------------------------------------------
    @_changes(market_only=False)
    def set_leverage(self, symbol: str, leverage: int) -> int:
        inst = self.state.instrument(symbol)
        notional = sum((abs(p.notional(self.state.mark_of(symbol))) for p in self.state.account.positions_of(symbol)),
                       Decimal(0))
        check_leverage(inst, leverage, notional)
        self.state.account.leverage[symbol] = leverage
        for pos in self.state.account.positions_of(symbol):
            pos.leverage = leverage
        self.state.account.touched.add(symbol)
        return leverage

    @_changes(market_only=False)
    def set_margin_type(self, symbol: str, margin_type: MarginType | str) -> None:
        change_margin_type(self.state, symbol, MarginType(str(getattr(margin_type, "value", margin_type)).upper()))

    @_changes(market_only=False)
    def set_position_mode(self, dual_side: bool) -> None:
        change_position_mode(self.state, dual_side)

    @_changes(market_only=False)
    def transfer(self, amount: Decimal) -> list[ev.Event]:
        """Money moved into (`amount` > 0, DEPOSIT) or out of (< 0, WITHDRAW) the futures wallet, as a transfer
        from or to the spot wallet does; a withdrawal beyond the available balance is refused (-2019: Binance
        lets no more leave than the margin in use leaves free). An ACCOUNT_UPDATE tells the user stream."""
        if amount == 0:
            return []
        if amount < 0 and -amount > self.available_balance():
            raise be.margin_insufficient()
        account = self.state.account
        account.wallet_balance += amount
        self.state.income.add(self.state.now_ms, TRANSFER, amount)
        return [self.state.emit(ev.account_update("DEPOSIT" if amount > 0 else "WITHDRAW", self.state.now_ms,
                                                  account.wallet_balance, account.cross_wallet, amount, [])).wire()]

    # --- the market -------------------------------------------------------------------------------
    @_changes(market_only=True)
    def set_prices(self, updates: Mapping[str, PriceLike]) -> list[ev.Event]:
        """One market step: every symbol jumps to its new price (sorted by symbol for determinism)."""
        start = len(self.state.events)
        for symbol in sorted(updates):
            self.state.instrument(symbol)
            jump(self.state, symbol, _as_update(updates[symbol]))
        return self.state.events[start:]

    @_changes(market_only=True)
    def apply_bar(self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, close: Decimal) -> list[ev.Event]:
        """One OHLC bar: a jump to the open (a gap), then open → nearer extreme → farther extreme → close."""
        start = len(self.state.events)
        path = intrabar_path(open_, high, low, close)
        jump(self.state, symbol, PriceUpdate(path[0], path[0]))
        for point in path[1:]:
            move_continuous(self.state, symbol, point)
        return self.state.events[start:]

    @_changes(market_only=True)
    def advance(self, seconds: float | Decimal) -> list[ev.Event]:
        """Move the clock; funding applies at every funding time passed."""
        start = len(self.state.events)
        target = self.state.now_ms + int(to_decimal(seconds, "seconds") * 1000)
        apply_funding_until(self.state, target)
        forget_old_orders(self.state, target)
        return self.state.events[start:]

    @_changes(market_only=True)
    def set_time(self, now_ms: int) -> list[ev.Event]:
        start = len(self.state.events)
        if now_ms > self.state.now_ms:
            apply_funding_until(self.state, now_ms)
            forget_old_orders(self.state, now_ms)
        return self.state.events[start:]

    def detach_listener(self) -> None:
        """A clean stop: the listener saves what it has not saved yet and is told nothing more."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()

    # --- reading ----------------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self.state.now_ms

    @property
    def events(self) -> list[ev.Event]:
        return self.state.events

    @property
    def account(self) -> Account:
        return self.state.account

    def instrument(self, symbol: str) -> Instrument:
        return self.state.instrument(symbol)

    def last_price(self, symbol: str) -> Decimal:
        return self.state.market(symbol).last

    def mark_price(self, symbol: str) -> Decimal:
        return self.state.market(symbol).mark

    def position(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> Position:
        self.state.instrument(symbol)
        return self.state.account.position(symbol, side)

    def liquidation_price(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> Decimal | None:
        pos = self.position(symbol, side)
        return position_liquidation_price(self.state, pos) if pos.amount else None

    @property
    def wallet_balance(self) -> Decimal:
        return self.state.account.wallet_balance

    @property
    def equity(self) -> Decimal:
        """Margin balance: wallet plus unrealised P&L at mark."""
        return self.state.account.margin_balance(self.state)

    def available_balance(self) -> Decimal:
        return self.state.account.available_balance(self.state, self.state.open_order_margin())

    def unrealized_report(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> LossReport:
        """Open P&L in USDT, % of notional, % of margin (ROE) and % of equity."""
        pos = self.position(symbol, side)
        mark = self.mark_price(symbol)
        return LossReport.of(pos.unrealized_pnl(mark), pos.notional(mark), pos.initial_margin(mark), self.equity)

    def event_log(self) -> str:
        return ev.render_log(self.state.events)


def _as_update(value: PriceLike) -> PriceUpdate:
    if isinstance(value, PriceUpdate):
        return value
    price = to_decimal(value, "price")
    return PriceUpdate(price, price)


def _instrument_table(instruments: Mapping[str, Instrument] | Iterable[Instrument] | None) -> dict[str, Instrument]:
    if instruments is None:
        from .universe import load_universe

        universe = load_universe()
        return {s: universe.instrument(s) for s in universe.symbols}
    if isinstance(instruments, Mapping):
        return dict(instruments)
    return {i.symbol: i for i in instruments}
