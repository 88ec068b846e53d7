"""Which funding rows of the income history a restarted trade counts: its symbol's, after its entry and after the
last payment the journal holds for it, not after its exit, and each payment once (the stream's stamp and the
income history's of one payment may differ by milliseconds)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from test_trade_tracker import SYM, entry_fill, opened

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.events import FUNDING, ProtectionAction
from quantum_trader.domain.exchange_types import BalanceUpdate
from quantum_trader.trading.away_funding import count_funding_while_away, funding_from_ms
from quantum_trader.trading.trades import OpenTrade

D = Decimal
H = 3_600_000
ENTRY_MS = 200_000  # entry_fill's exchange time


def paid(amount: str, time_ms: int, symbol: str = SYM, reason: str = "FUNDING_FEE") -> BalanceUpdate:
    return BalanceUpdate(change=D(amount), reason=reason, symbol=symbol, time_ms=time_ms)


def counted(trade: OpenTrade, found: list[BalanceUpdate], until_ms: int | None = None,
            ) -> tuple[Decimal, list[tuple[str, str | None, Decimal | None, int]]]:
    bus = EventBus()
    journaled: list[ProtectionAction] = []
    bus.subscribe(ProtectionAction, journaled.append)
    total = asyncio.run(count_funding_while_away(bus, trade, found, until_ms))
    return total, [(a.action, a.trade_id, a.price, a.time_ms) for a in journaled]


def test_a_trade_without_funding_counts_its_symbols_payments_from_its_entry_fill() -> None:
    trade = OpenTrade.restored(opened(), [entry_fill()])
    assert funding_from_ms(trade) == ENTRY_MS  # the exchange's time of its entry, not its own opening time
    found = [paid("-9", ENTRY_MS - 1),  # the position before it
             paid("-0.5", 8 * H), paid("-7", 8 * H, symbol="ETHUSDT"), paid("-100", 9 * H, reason="TRANSFER"),
             paid("0.25", 16 * H)]
    assert counted(trade, found) == (D("-0.25"), [(FUNDING, "BTCUSDT_100", D("-0.5"), 8 * H),
                                                  (FUNDING, "BTCUSDT_100", D("0.25"), 16 * H)])
    assert (trade.funding, trade.funding_ms) == (D("-0.25"), [8 * H, 16 * H])
    assert counted(trade, found) == (D(0), [])  # read again (a second restart): nothing twice
    assert funding_from_ms(trade) == 16 * H + 1


def test_a_payment_the_journal_holds_is_not_counted_again_whatever_its_stamp() -> None:
    trade = OpenTrade.restored(opened(), [entry_fill()], funding=[(8 * H + 12, D("-0.5"))])  # the stream's stamp
    assert funding_from_ms(trade) == 8 * H + 13
    found = [paid("-0.5", 8 * H), paid("-0.5", 8 * H + 40), paid("-0.6", 16 * H)]  # the history's own stamps
    assert counted(trade, found) == (D("-0.6"), [(FUNDING, "BTCUSDT_100", D("-0.6"), 16 * H)])
    assert trade.funding == D("-1.1")


def test_a_trade_closed_while_away_counts_nothing_after_its_exit() -> None:
    trade = OpenTrade.restored(opened(), [entry_fill()])
    assert counted(trade, [paid("-0.5", 8 * H), paid("-0.4", 16 * H)], until_ms=10 * H)[0] == D("-0.5")
