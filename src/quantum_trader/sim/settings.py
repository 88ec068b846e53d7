"""Account settings that Binance guards (margin type, position mode) and the passage of time (funding)."""

from __future__ import annotations

from ..domain import binance_errors as be
from ..domain.enums import MarginType
from . import events as ev
from .funding import funding_payment
from .income import FUNDING_FEE
from .state import SimState
from .stepping import settle


def change_margin_type(state: SimState, symbol: str, margin_type: MarginType) -> None:
    state.instrument(symbol)
    account = state.account
    if account.margin_type_of(symbol) is margin_type:
        raise be.no_need_to_change_margin_type()
    if any(True for _ in state.open_orders(symbol)) or any(True for _ in state.open_algos(symbol)):
        raise be.margin_type_open_orders()
    if account.has_position(symbol):
        raise be.margin_type_position()
    account.margin_type[symbol] = margin_type
    for pos in account.positions_of(symbol):
        pos.margin_type = margin_type
    account.touched.add(symbol)


def change_position_mode(state: SimState, dual_side: bool) -> None:
    account = state.account
    if account.dual_side == dual_side:
        raise be.no_need_to_change_position_side()
    if any(True for _ in state.open_orders()) or any(True for _ in state.open_algos()):
        raise be.position_mode_open_orders()
    if any(True for _ in account.open_positions()):
        raise be.position_mode_position()
    account.dual_side = dual_side


def apply_funding_until(state: SimState, target_ms: int) -> None:
    """Pay or receive funding at each funding time in (now, target], in time order; then re-check liquidations."""
    start = state.now_ms
    if target_ms < state.funding_due_ms:
        state.now_ms = target_ms
        return
    due = sorted(
        ((t, pos.symbol, pos.position_side.value), pos)
        for pos in state.account.open_positions()
        for t in state.funding_schedule.funding_times_between(pos.symbol, start, target_ms)
    )
    touched: set[str] = set()
    for (t, symbol, _), pos in due:
        if pos.amount == 0:
            continue
        state.now_ms = t
        mark = state.mark_of(symbol)
        payment = funding_payment(pos.amount, mark, state.funding_rates.rate(symbol, t))
        state.account.apply_funding(pos, payment)
        if payment != 0:  # the income history's row, what a bot restarted after it reads (sim/income.py)
            state.income.add(t, FUNDING_FEE, payment, symbol)
        # §7.3: a cross funding fee sends the balance only; an isolated one also that one position.
        changed = [] if pos.margin_type is MarginType.CROSSED else [
            (pos, pos.unrealized_pnl(mark), pos.break_even_price(state.fees.taker))]
        state.emit(ev.account_update("FUNDING_FEE", t, state.account.wallet_balance, state.account.cross_wallet,
                                     payment, changed, symbol=symbol))
        touched.add(symbol)
    state.now_ms = target_ms
    state.funding_due_ms = min((state.funding_schedule.next_funding_time(s, target_ms) for s in state.instruments),
                               default=target_ms)
    for symbol in sorted(touched):
        settle(state, symbol)
