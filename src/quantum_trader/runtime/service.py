"""The application service: the one object the HTTP API and the CLI call.

They are thin layers over it; the running session (runtime/session.py) implements it. Answers are
plain JSON-ready dicts (Decimal as strings, as Binance sends them) because the API returns them as
they are and the CLI's `--json` prints the very same documents (CONTRACT sections 3 and 4).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

JSON = dict[str, Any]


@runtime_checkable
class AppService(Protocol):
    async def health(self) -> JSON:
        """CONTRACT section 4 `/health` body: status, mode, event_driven, exchange, feed, uptime_s,
        positions, unprotected_positions, monitor {last_sweep_age_s, errors}."""
        ...

    async def positions(self) -> JSON:
        """`{"positions": [...], "unprotected": N, "equity": str}` (trading.protection_view)."""
        ...

    async def orders(self) -> JSON:
        """`{"groups": [...], "orphans": [...], "rejected_types": [...], "unprotected": N}`."""
        ...

    async def trades(self, limit: int = 100) -> JSON:
        ...

    async def signals(self, limit: int = 100) -> JSON:
        ...

    async def audit(self, limit: int | None = None) -> JSON:
        ...

    async def readiness(self) -> JSON:
        ...

    async def equity(self, limit: int = 1000) -> JSON:
        ...

    async def live(self) -> JSON:
        """The dashboard's live document: `{"health", "positions", "orders", "unprotected_s": {symbol: s},
        "repair": str, "pnl_today": {"usdt", "pct", "since_equity"}, "revision": N, "bar_open_time_ms", "time_ms"}`;
        `repair` is what becomes of an unprotected position (staging: journaled, not sent), for the banner."""
        ...

    async def candles(self, symbol: str, limit: int = 720) -> JSON:
        """`{"symbol", "interval_ms", "candles": [{"time": epoch s, "open", "high", "low", "close"}]}`, oldest first."""
        ...

    async def fills(self, symbol: str | None = None, limit: int = 200) -> JSON:
        """`{"fills": [...]}`, newest first, of one symbol or all."""
        ...

    async def activity(self, limit: int = 50) -> JSON:
        """`{"protection_actions": [...], "errors": [...]}`, newest first."""
        ...

    async def force_entry(self, symbol: str, side: str) -> JSON:
        """`{"accepted": bool, "reason": str, "trade_id": str | None, "sent": bool, "dry_run": bool}`; side is `long`
        or `short`. `sent`: the entry order left the process; `dry_run`: a gateway that sends nothing (staging)
        took it, and `reason` ends with what it would have sent ("sent nothing (dry run): would buy ...")."""
        ...

    async def kill_switch(self) -> JSON:
        """`{"cancelled_orders": N, "closed_positions": N, "still_open": [...], "positions_unknown": str | null,
        "summary": str, "entries_halted": true}`; `still_open` names each position the kill switch could not close
        and what still protects it; `positions_unknown` says why the positions' state is unknown (the account could
        not be read before or after closing: every position may still be open), null when they were read back."""
        ...

    async def resume(self) -> JSON:
        """The manual reset after a kill switch: `{"trading": "ACTIVE"}`."""
        ...
