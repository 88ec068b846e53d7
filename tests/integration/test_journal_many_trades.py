"""The journal answers questions about every approved signal at once, however many there are.

Readiness (and the Signals panel) ask which entry orders and recorded trades belong to a list of trade ids:
every approved signal in the journal. A staging session approves thousands of signals a day, and one query
with a bind parameter per id fails past the database's limit (PostgreSQL: 65,535; this SQLite: 250,000) with
"too many SQL variables". The ids are asked in pieces; a real SQLite file, 300,000 ids.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.events import Direction, OrderRejectedEvent, TradeOpened
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.journal import Journal
from quantum_trader.journal.reader import IN_PIECE, JournalReader

MANY = 300_000


def test_entry_orders_and_recorded_trades_of_300_000_trade_ids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal.open(url) as journal:
        journal.start_session("staging", "{}", "test")
        for n, trade in enumerate(("A_1_1", "B_1_1")):
            intent = OrderIntent(client_id=f"qt-{trade}-entry-0", symbol="ETHUSDT", side=Side.BUY,
                                 type=OrderType.MARKET, quantity=Decimal("0.5"))
            journal.on_rejected(OrderRejectedEvent(intent=intent, trade_id=trade, purpose="entry", code=None,
                                                   message="not sent (dry run)", time_ms=1_796_000_000_000 + n))
        journal.on_trade_opened(TradeOpened(trade_id="B_1_1", symbol="ETHUSDT", direction=Direction.LONG,
                                            quantity=Decimal("0.5"), entry_price=Decimal("3000"),
                                            planned_stop=None, planned_take_profit=None, planned_loss=None,
                                            leverage=5, equity=Decimal("10000"), time_ms=1_796_000_000_002))
    ids = [f"X_{i}_1" for i in range(MANY)] + ["B_1_1", "A_1_1"]
    assert len(ids) > 2 * IN_PIECE
    reader = JournalReader(url)
    assert [o["trade_id"] for o in reader.entry_orders(ids)] == ["A_1_1", "B_1_1"]  # oldest first, over pieces
    assert reader.recorded_trades(ids) == {"B_1_1"}
