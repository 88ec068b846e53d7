"""What execution says of an approved entry that opened nothing (`EntryNotOpened.reason`), by how the send ended.

The words reach a person through the force-entry answer; a dry run must read as one, never as a sent order.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.exchange_types import OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.trading.execution import not_opened_reason
from quantum_trader.trading.sending import SendResult, Sent

INTENT = OrderIntent(client_id="qt-ETHUSDT_1_1-entry-0", symbol="ETHUSDT", side=Side.BUY, type=OrderType.MARKET,
                     quantity=Decimal("0.52"))
ORDER = "buy 0.52 ETHUSDT at market"
ANSWER = OrderSnapshot(client_id=INTENT.client_id, venue_id="1", symbol="ETHUSDT", side=Side.BUY,
                       type=OrderType.MARKET, status=SnapshotStatus.EXPIRED, conditional=False,
                       quantity=Decimal("0.52"), filled=Decimal(0), avg_price=Decimal(0), trigger_price=None,
                       price=None, reduce_only=False, close_position=False, working_type=WorkingType.CONTRACT_PRICE,
                       update_time=0)


@pytest.mark.parametrize(("result", "words"), [
    (SendResult(Sent.NOT_SENT, message="staging: a dry run sends nothing", dry_run=True),
     f"sent nothing (dry run): would {ORDER}"),
    (SendResult(Sent.NOT_SENT, message="not sent: the journal could not record the intent (write-ahead): OSError"),
     f"not sent: the journal could not record the intent (write-ahead): OSError ({ORDER})"),
    (SendResult(Sent.REJECTED, code=-2019, message="Margin is insufficient."),
     f"the exchange refused the entry ({ORDER}): -2019 Margin is insufficient."),
    (SendResult(Sent.REJECTED, code=-1007, message="Timeout waiting for response.", retryable=True),
     f"the exchange did not confirm the entry ({ORDER}): -1007 Timeout waiting for response."),
    (SendResult(Sent.ACCEPTED, snapshot=ANSWER), f"the exchange filled none of the entry ({ORDER}): EXPIRED"),
])
def test_an_entry_that_opened_nothing_says_what_became_of_it(result: SendResult, words: str) -> None:
    assert not_opened_reason(INTENT, result) == words


def test_an_entry_the_exchange_holds_open_may_still_fill_and_says_nothing() -> None:
    assert not_opened_reason(INTENT, SendResult(Sent.ACCEPTED, snapshot=replace(ANSWER, status=SnapshotStatus.OPEN))) \
        is None
