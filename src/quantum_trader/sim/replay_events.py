"""Reading the simulator's stream events as the bar replayer listens to them: which symbol an event is
about, whether it is a funding payment (which moves an isolated margin, so a liquidation price, never an
order), and whose position it changed (what the equity watch must read again)."""

from __future__ import annotations

from .events import Event


def is_funding(event: Event) -> bool:
    """A funding payment moves an isolated margin (so a liquidation price), never an order."""
    account = event.get("a")
    return event.get("e") == "ACCOUNT_UPDATE" and isinstance(account, dict) and account.get("m") == "FUNDING_FEE"


def position_symbols(event: Event) -> list[str]:
    """The symbols whose position an event changed: every fill (a liquidation's too) emits an ACCOUNT_UPDATE
    with its position's row, as Binance's stream does; order updates alone change no position."""
    account = event.get("a")
    if event.get("e") != "ACCOUNT_UPDATE" or not isinstance(account, dict):
        return []
    return [str(row["s"]) for row in account.get("P") or ()]


def event_symbol(event: Event) -> str | None:
    """The symbol an order, algo, account or simulator event is about (an account update's first row's)."""
    body = event.get("o")
    if isinstance(body, dict) and "s" in body:
        return str(body["s"])
    account = event.get("a")
    if isinstance(account, dict):
        positions = account.get("P") or []
        return str(positions[0]["s"]) if positions else None
    symbol = event.get("symbol")
    return str(symbol) if symbol is not None else None
