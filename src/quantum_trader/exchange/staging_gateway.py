"""The gateway staging runs on: every order and cancellation is declined before it leaves the process.

Staging must never touch an exchange order, so it is wired with this gateway instead of the adapter's
own `place`/`cancel`: execution (the only holder of a gateway) journals each intent, asks the gateway,
and records the refusal as "would have sent" with the reason. Nothing else in the bot can reach the
exchange's write side (the monitor, the kill switch and reconciliation hold an `ExchangeReader`), so
a dry run is a fact of the wiring, not a flag checked in trading code.

What execution announces *before* an order leaves (an emergency exit is journaled and logged first, so a
slow exchange cannot hold the warning back) is worded by the wiring too: staging wires this gateway with
`DRY_RUN_WORDING` (trading/execution.py), so the announcement says "would" instead of claiming an exit
that is never sent.
"""

from __future__ import annotations

from ..domain.enums import MarginType
from ..domain.errors import OrderNotSent
from ..domain.exchange_types import OrderIntent, OrderSnapshot

STAGING = "staging: a dry run sends nothing"


class DryRunGateway:
    """An `OrderGateway` that sends nothing; leverage and margin type are left as the account has them."""

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        raise OrderNotSent(STAGING)

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        raise OrderNotSent(STAGING)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        raise OrderNotSent(STAGING)

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        raise OrderNotSent(STAGING)
