"""A stop that fired while the bot was away is journaled from the exchange's fills whatever the exchange's clock.

The trial (2026-12-06): a sim-server replaying February 2026 stamps its fills with the replay's time while the bot
journals on the machine's (December 2026). FILUSDT's stop fired while the bot was down; the restart asked for the
symbol's fills from a minute before the trade's opening on the bot's clock, found none, fell back to the stop order
(which keeps no fees) and dated the exit at the trade's opening: fees 2.338784 (the entry's alone; the exchange
charged 4.60842805), realised P&L from the order's average price (-138.2795008, the exchange's -138.2799) and
closed_ms == opened_ms. Now the fills are read from the trade's entry fill on the exchange's clock, and the exit's
time is brought onto the bot's clock at the entry (the trade opened on the bot's clock when its entry filled).

Session 1 and the restart as in test_restart_exits.py (real SQLite journal, in-process simulator), with the bot's
clock 300 days after the simulator's.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from test_restart_exits import T0, closed_row, first_session, restart, simulator, the_stop_fires_while_away

from quantum_trader.exchange.inprocess import InProcessExchange

#: The bot's clock runs this far ahead of the exchange's (a replay of a past month at --speed 1).
AHEAD_MS = 300 * 86_400_000


def test_a_stop_fired_while_away_on_an_exchange_with_its_own_clock_has_its_fills_fees_and_time(
        tmp_path: Path) -> None:
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()
    exchange = InProcessExchange(sim)
    asyncio.run(first_session(url, exchange, bot_ms=T0 + AHEAD_MS))
    the_stop_fires_while_away(sim, exchange)
    asyncio.run(restart(url, exchange, T0 + AHEAD_MS + 600_000))
    row = closed_row(url)
    entry_fill, exit_fill = sim.state.fills  # the exchange's own record of the trade
    assert row["exit_reason"] == "stop_loss"
    assert Decimal(str(row["exit_price"])) == exit_fill.price
    assert Decimal(str(row["fees"])) == entry_fill.commission + exit_fill.commission > 0  # was: the entry's alone
    assert Decimal(str(row["realized_pnl"])) == exit_fill.realized_pnl
    assert row["opened_ms"] == T0 + AHEAD_MS
    assert row["closed_ms"] == T0 + AHEAD_MS + 90_000  # 90 s after the entry, on the bot's clock; was: the opening
    [action] = row["actions"]  # type: ignore[misc]
    assert action["action"] == "exit_found" and "fills on the exchange" in action["reason"]
