"""A trade adopted at a restart keeps an entry fee stamped more than a minute before its opening.

A paper fill carries the simulator's time, the bar's open (the bar is played at its open), while the trade
opens on the session's clock at the bar's close: 60 s and whatever the machine's load adds later. The restart
read the symbol's fills from 60 s before the opening only, and under load (test_restart_trade_costs' kill -9
case, 1 run in 3 with three test files at once) lost the entry fee. The trade's own fills are now read
whenever they were stamped. A real SQLite journal.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import Side
from quantum_trader.domain.events import Direction, FillEvent, TradeOpened
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.readmodels.adopted import adopted_trades

T0 = 1_796_447_400_000
D = Decimal


def test_the_entry_fee_of_a_fill_stamped_61_s_before_the_opening_is_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    clock = SimulatedClock(T0)

    async def journal_it() -> None:
        with Journal.open(url, now_ms=clock.now_ms) as journal:
            journal.start_session("paper", "{}", "test", started_ms=T0)
            bus = EventBus(clock.now_ms)
            journal.attach(bus)
            await bus.publish(FillEvent(fill_id="BTCUSDT:1", symbol="BTCUSDT", client_id="qt-BTCUSDT_1_1-entry-0",
                                        side=Side.BUY, quantity=D("0.010"), price=D("50000"), fee=D("2.29"),
                                        realized_pnl=D(0), time_ms=T0, maker=False))
            await bus.publish(TradeOpened(trade_id="BTCUSDT_1_1", symbol="BTCUSDT", direction=Direction.LONG,
                                          quantity=D("0.010"), entry_price=D("50000"), planned_stop=D("49000"),
                                          planned_take_profit=D("52000"), planned_loss=D("10"), leverage=5,
                                          equity=D("10000"), time_ms=T0 + 60_100))

    asyncio.run(journal_it())
    reader = JournalReader(url)
    try:
        [trade] = adopted_trades(reader)
    finally:
        reader.close()
    assert trade.fees == D("2.29")  # was 0: the fill fell outside the 60 s window before the opening
