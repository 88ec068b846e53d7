"""Moving the market: jumps (ticks, gaps) and continuous segments (inside a bar), with everything they set off.

A jump lands on its new price at once, so a stop it crosses fills at that new price: a gap through a
STOP_MARKET costs the whole gap. A continuous segment visits every price on the way, so the engine
stops at each trigger, limit or liquidation price it crosses, in the order it meets them, and settles
there. Both use one `settle` routine, which is how bars and ticks see the same triggers.
"""

from __future__ import annotations

from decimal import Decimal

from ..domain.enums import AlgoStatus, OrderType, Side
from ..domain.instrument import Instrument
from ..domain.money import Rounding
from ..domain.orders import AlgoOrder
from .liquidation import liquidate_if_crossed, liquidation_prices
from .market import PriceUpdate
from .matching import fill_resting_limits
from .spawn import trigger_algo
from .state import SimState
from .triggers import TriggerKind, stop_triggered

MAX_SETTLE_ROUNDS = 64


def jump(state: SimState, symbol: str, update: PriceUpdate) -> None:
    """A discrete move (a tick, a gap): land on the new price and settle everything it sets off."""
    market = state.market(symbol)
    market.apply(update)
    state.volatility.update(symbol, market.last)
    settle(state, symbol)


def move_continuous(state: SimState, symbol: str, target: Decimal) -> None:
    """Walk from the current last price to `target`, stopping at every level crossed on the way."""
    if rests_nothing(state, symbol):  # no level to stop at, nothing to settle (a signal's bar on a flat symbol)
        market = state.market(symbol)
        if market.last != target:
            market.apply(PriceUpdate(target, target))
            state.volatility.update(symbol, market.last)
        return
    for _ in range(10_000):
        current = state.market(symbol).last
        nxt = next_crossing(state, symbol, current, target)
        if nxt is None:
            break
        jump(state, symbol, PriceUpdate(nxt, nxt))
    if state.market(symbol).last != target:
        jump(state, symbol, PriceUpdate(target, target))


def settle(state: SimState, symbol: str) -> None:
    """Run liquidation, triggers and resting fills at the current price until nothing more happens."""
    if rests_nothing(state, symbol):
        return
    for _ in range(MAX_SETTLE_ROUNDS):
        progressed = liquidate_if_crossed(state, symbol)
        for algo in sorted(state.open_algos(symbol), key=lambda a: a.algo_id):
            if algo.status is AlgoStatus.NEW and condition_met(state, algo):
                progressed = trigger_algo(state, algo) or progressed
        progressed = fill_resting_limits(state, symbol) or progressed
        if not progressed:
            return


def rests_nothing(state: SimState, symbol: str) -> bool:
    """No position, open order or open algo order on `symbol`: a move of its price can set nothing off there
    (no liquidation, trigger or fill; a cross position elsewhere is settled on its own symbol). A signal's bar
    is replayed on a symbol without any, so moving it is landing on each price of its path, and no more."""
    return not (state.account.holds(symbol) or state.open_algos(symbol) or state.open_orders(symbol))


def condition_met(state: SimState, algo: AlgoOrder) -> bool:
    price = state.market(algo.symbol).trigger_price(algo.working_type)
    if algo.order_type is OrderType.TRAILING_STOP_MARKET:
        return trailing_condition(algo, price)
    kind = TriggerKind.STOP if algo.order_type.is_stop_family else TriggerKind.TAKE_PROFIT
    return stop_triggered(kind, algo.side.sign, price, algo.trigger_price)


def trailing_condition(algo: AlgoOrder, price: Decimal) -> bool:
    """SELL: activated once P ≥ activation, fires when P ≤ highest × (1 − rate); BUY mirrored."""
    sell = algo.side is Side.SELL
    if not algo.trail_activated:
        if (price >= algo.activate_price) if sell else (price <= algo.activate_price):
            algo.trail_activated, algo.trail_extreme = True, price
        return False
    extreme = algo.trail_extreme if algo.trail_extreme is not None else price
    extreme = max(extreme, price) if sell else min(extreme, price)
    algo.trail_extreme = extreme
    rate = algo.callback_rate / 100
    return price <= extreme * (1 - rate) if sell else price >= extreme * (1 + rate)


def next_crossing(state: SimState, symbol: str, current: Decimal, target: Decimal) -> Decimal | None:
    """The first trigger, limit, activation or liquidation level strictly between current and target."""
    if current == target:
        return None
    up = target > current
    levels: list[Decimal] = [lvl for lvl in _candidate_levels(state, symbol, up) if
                             (current < lvl <= target if up else target <= lvl < current)]
    if not levels:
        return None
    return min(levels) if up else max(levels)


def _candidate_levels(state: SimState, symbol: str, up: bool) -> list[Decimal]:
    inst = state.instrument(symbol)
    levels = [lp for lp, _ in liquidation_prices(state, symbol)]
    for algo in state.open_algos(symbol):
        if algo.status is not AlgoStatus.NEW:
            continue
        if algo.order_type is OrderType.TRAILING_STOP_MARKET:
            levels.extend(_trailing_levels(inst, algo, state.market(symbol).last, up))
        else:
            levels.append(algo.trigger_price)
    levels.extend(o.price for o in state.open_orders(symbol) if o.type is OrderType.LIMIT)
    return [lvl for lvl in levels if lvl > 0]


def _trailing_levels(inst: Instrument, algo: AlgoOrder, current: Decimal, up: bool) -> list[Decimal]:
    """Trailing levels round toward the side that satisfies the condition, so stopping there fires it."""
    sell = algo.side is Side.SELL
    if not algo.trail_activated:
        return [algo.activate_price]
    extreme = algo.trail_extreme if algo.trail_extreme is not None else current
    rate = algo.callback_rate / 100
    if sell and not up:
        return [inst.round_price(max(extreme, current) * (1 - rate), Rounding.DOWN)]
    if not sell and up:
        return [inst.round_price(min(extreme, current) * (1 + rate), Rounding.UP)]
    return []
