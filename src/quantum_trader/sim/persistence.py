"""Snapshot and restore of a simulator's `SimState`: what a paper account must keep across a restart.

Why a hand-written codec rather than pickle: the file outlives the code that wrote it (an upgrade must
not lose a paper account), pickle would drag every instrument's filters and brackets into each save,
and a snapshot a user can read with `jq` is easier to trust. What is persisted is the source of truth
only: the account (wallet, fees, funding, realised P&L, settings, positions), classic and algo orders,
each market's last and mark price, the volatility tracker that shapes fills, id counters, the random
generator that makes client ids, and the simulated time. Everything derived (open-order and client-id
indexes, the open-position indexes, the liquidation cache, the funding due time) is rebuilt on restore.
Instruments are not stored: they come from the universe the session starts with (a symbol held in the
snapshot but outside today's symbol list is loaded from the packaged universe, so nothing is dropped).

Flat positions are not kept either: reading a symbol creates one from the account's leverage and margin
type, which is all a flat position holds. Event and fill logs are history, not state, and are not kept;
finished orders are kept only for the most recent `KEEP_FINISHED` of each kind, enough for a restart to
look up how its trades ended (Binance, too, forgets old closed orders). The income history (transfers and
funding of the last three months, and the next `tranId`) is kept: a bot restarted after a resume reads it
for what was paid or moved while it was stopped (sim/income.py). A save per bar must not re-encode its
thousands of rows, so `SnapshotCache` holds their text, extended as rows come and rebuilt when one ages out.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from types import UnionType
from typing import Any, TypeVar

from ..domain.enums import MarginType, PositionSide
from ..domain.errors import ConfigError
from ..domain.orders import AlgoOrder, Order
from ..domain.position import Position
from .account import Account
from .income import IncomeHistory, restored_history, saved_row
from .market import MarketState
from .state import SimState

#: Bumped when the layout changes incompatibly; a newer file is refused rather than misread.
SCHEMA = 1
#: Finished classic orders and finished algo orders kept in a snapshot (each kind), the newest ones: the
#: last minutes of a busy session, enough for a restart to find how an order in flight ended.
KEEP_FINISHED = 32
_D = TypeVar("_D", Order, AlgoOrder, Position)
_O = TypeVar("_O", Order, AlgoOrder)
_COMPACT = (",", ":")
_HINTS: dict[type, dict[str, Any]] = {}
_NAMES: dict[type, tuple[str, ...]] = {}
Json = dict[str, Any]


class PaperStateError(ConfigError):
    """A saved paper account exists but cannot be read: the message names the file and the way out."""


@dataclass(slots=True)
class SnapshotCache:
    """Text that cannot change between saves, owned by the saver (`snapshot_text`): each finished order's, by
    (kind, id); the income rows' as (first tranId, last tranId, the rows' text joined)."""

    orders: dict[tuple[str, int], str] = field(default_factory=dict)
    income: tuple[int, int, str] | None = None


# --- flat dataclasses (orders, positions) ---------------------------------------------------------


def encode(obj: Order | AlgoOrder | Position) -> Json:
    """Field by field: Decimals as exact strings, enums by their wire value, the rest as JSON has them."""
    names = _NAMES.get(type(obj))
    if names is None:
        names = _NAMES[type(obj)] = tuple(f.name for f in dataclasses.fields(obj))
    out: Json = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = str(value) if isinstance(value, Decimal) else value.value if isinstance(value, Enum) else value
    return out


def decode(cls: type[_D], data: Mapping[str, Any]) -> _D:
    """The inverse of `encode`. A field missing from the file (written before the field existed) takes its
    default; a field the class no longer has is dropped (nothing reads it any more). A change that old
    files cannot survive that way bumps SCHEMA instead."""
    hints = _hints(cls)
    return cls(**{name: _convert(hints[name], value) for name, value in data.items() if name in hints})


def _hints(cls: type) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls)
    return found


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is Decimal:
        return Decimal(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is bool:
        return bool(value)
    if hint is int:
        return int(value)
    return str(value) if hint is str else value


# --- the whole state ------------------------------------------------------------------------------


def snapshot(state: SimState) -> Json:
    """The state as plain JSON data (what `snapshot_text` writes, as a dict)."""
    return {**_base(state), "income": _income(state.income, state.now_ms),
            "orders": [encode(o) for o in _kept(state.orders, state.open_orders())],
            "algos": [encode(a) for a in _kept(state.algos, state.open_algos())]}


def snapshot_text(state: SimState, cache: SnapshotCache) -> str:
    """`snapshot` as compact JSON text, for a save after every change. Finished orders and income rows can
    never change again, so their text is made once and kept in `cache` (owned by the caller, trimmed here): a
    busy account's hundred closed orders and thousands of funding rows cost a string join per save, not their
    encoding."""
    base = json.dumps(_base(state), separators=_COMPACT)
    income = _income_text(state.income, state.now_ms, cache)
    orders = _orders_text(_kept(state.orders, state.open_orders()), "o", cache.orders)
    algos = _orders_text(_kept(state.algos, state.open_algos()), "a", cache.orders)
    if len(cache.orders) > 4 * KEEP_FINISHED:
        keep = {("o", o.order_id) for o in state.orders.values()} | {("a", a.algo_id) for a in state.algos.values()}
        for stale in [key for key in cache.orders if key not in keep]:
            del cache.orders[stale]
    return f'{base[:-1]},"income":{income},"orders":{orders},"algos":{algos}}}'


def _income(history: IncomeHistory, now_ms: int) -> Json:
    return {"next_tran_id": history.next_tran_id, "rows": [saved_row(r) for r in history.kept(now_ms)]}


def _income_text(history: IncomeHistory, now_ms: int, cache: SnapshotCache) -> str:
    """The `_income` text: the cached rows' text when the kept rows are the same, extended by the rows added
    since (tranIds only grow along the list), rebuilt when the oldest kept row changed (one aged out)."""
    rows = history.kept(now_ms)
    if not rows:
        text = ""
    elif cache.income is not None and cache.income[0] == rows[0].tran_id and cache.income[1] <= rows[-1].tran_id:
        known = cache.income[1]
        start = len(rows)
        while start > 0 and rows[start - 1].tran_id > known:
            start -= 1
        added = ",".join(json.dumps(saved_row(r), separators=_COMPACT) for r in rows[start:])
        text = cache.income[2] + ("," + added if added else "")
    else:
        text = ",".join(json.dumps(saved_row(r), separators=_COMPACT) for r in rows)
    cache.income = (rows[0].tran_id, rows[-1].tran_id, text) if rows else None
    return f'{{"next_tran_id":{history.next_tran_id},"rows":[{text}]}}'


def _base(state: SimState) -> Json:
    account = state.account
    return {
        "schema": SCHEMA,
        "now_ms": state.now_ms, "last_funding_ms": state.last_funding_ms,
        "next_order_id": state.next_order_id, "next_algo_id": state.next_algo_id,
        "next_trade_id": state.next_trade_id,
        "rng": _rng_state(state),
        "account": {
            "wallet_balance": str(account.wallet_balance), "default_leverage": account.default_leverage,
            "dual_side": account.dual_side, "leverage": dict(sorted(account.leverage.items())),
            "margin_type": {s: m.value for s, m in sorted(account.margin_type.items())},
            "positions": [encode(p) for _, p in sorted(account.positions.items()) if p.amount or p.isolated_wallet],
            "total_fees": str(account.total_fees), "total_realized": str(account.total_realized),
            "total_funding": str(account.total_funding), "touched": sorted(account.touched),
        },
        "markets": {s: [str(m.last), str(m.mark)] for s, m in sorted(state.markets.items())},
        "volatility": _volatility(state),
    }  # fmt: skip


def _rng_state(state: SimState) -> list[Any]:
    version, internal, gauss = state.rng.getstate()
    return [version, list(internal), gauss]


def _volatility(state: SimState) -> dict[str, list[Any]]:
    tracker = state.volatility
    symbols = sorted(set(tracker._ewma) | set(tracker._last))
    return {s: [tracker._ewma.get(s), None if s not in tracker._last else str(tracker._last[s])] for s in symbols}


def _kept(every: dict[int, _O], open_now: Iterable[_O]) -> list[_O]:
    """Open orders, plus the newest finished ones (walking back from the newest id; ids only grow), by id."""
    kept = {_id(item): item for item in open_now}
    finished = 0
    for key in reversed(every):
        if finished >= KEEP_FINISHED:
            break
        item = every[key]
        if not item.is_open:
            finished += 1
            kept[key] = item
    return [kept[key] for key in sorted(kept)]


def _id(item: Order | AlgoOrder) -> int:
    return item.order_id if isinstance(item, Order) else item.algo_id


def _orders_text(items: list[_O], kind: str, cache: dict[tuple[str, int], str]) -> str:
    parts = []
    for item in items:
        if item.is_open:
            parts.append(json.dumps(encode(item), separators=_COMPACT))
            continue
        key = (kind, _id(item))
        text = cache.get(key)
        if text is None:
            text = cache[key] = json.dumps(encode(item), separators=_COMPACT)
        parts.append(text)
    return "[" + ",".join(parts) + "]"


def restore(state: SimState, data: Mapping[str, Any]) -> None:
    """Load `data` (from `snapshot`) into a freshly built state, then rebuild every derived index."""
    if data.get("schema") != SCHEMA:
        raise PaperStateError(f"schema {data.get('schema')!r}, this version reads {SCHEMA}")
    try:
        _restore(state, data)
    except (KeyError, TypeError, ValueError, IndexError, InvalidOperation) as exc:
        raise PaperStateError(f"malformed snapshot ({type(exc).__name__}: {exc})") from exc


def _restore(state: SimState, data: Mapping[str, Any]) -> None:
    _add_instruments(state, data)
    state.now_ms = int(data["now_ms"])
    state.last_funding_ms = int(data["last_funding_ms"])
    state.next_order_id, state.next_algo_id = int(data["next_order_id"]), int(data["next_algo_id"])
    state.next_trade_id = int(data["next_trade_id"])
    version, internal, gauss = data["rng"]
    state.rng.setstate((int(version), tuple(int(x) for x in internal), gauss))
    state.funding_due_ms = 0  # a cache: the next clock move recomputes it
    state.liquidation_cache.clear()
    state.account = _account(data["account"])
    state.income = restored_history(data.get("income"))  # absent: an account saved before income was kept
    state.markets = {s: MarketState(state.instrument(s), Decimal(last), Decimal(mark), state.config.mark_basis_decay)
                     for s, (last, mark) in data["markets"].items() if s in state.instruments}
    for symbol, (ewma, last) in data["volatility"].items():
        if ewma is not None:
            state.volatility._ewma[symbol] = float(ewma)
        if last is not None:
            state.volatility._last[symbol] = Decimal(last)
    _rebuild_orders(state, [decode(Order, row) for row in data["orders"]],
                    [decode(AlgoOrder, row) for row in data["algos"]])


def _add_instruments(state: SimState, data: Mapping[str, Any]) -> None:
    """Symbols the snapshot holds but today's session did not ask for come from the packaged universe.

    A position or an order on a symbol found nowhere is an error (it would be lost); a last price alone
    is dropped (the market of a symbol that cannot be traded any more holds nothing of the account)."""
    held = {str(p["symbol"]) for p in data["account"]["positions"]}
    held |= {str(o["symbol"]) for o in (*data["orders"], *data["algos"])}
    missing = sorted((held | set(data["markets"])) - set(state.instruments))
    if not missing:
        return
    from .universe import load_universe

    universe = load_universe()
    unknown = [s for s in missing if s not in universe.symbols]
    if held & set(unknown):
        raise PaperStateError(f"symbol(s) {sorted(held & set(unknown))} hold positions or orders but are not in "
                              "the simulator's universe")
    state.instruments.update({s: universe.instrument(s) for s in missing if s not in unknown})


def _account(data: Mapping[str, Any]) -> Account:
    account = Account(Decimal(data["wallet_balance"]), default_leverage=int(data["default_leverage"]),
                      dual_side=bool(data["dual_side"]))
    account.leverage = {str(s): int(v) for s, v in data["leverage"].items()}
    account.margin_type = {str(s): MarginType(v) for s, v in data["margin_type"].items()}
    account.total_fees, account.total_realized = Decimal(data["total_fees"]), Decimal(data["total_realized"])
    account.total_funding = Decimal(data["total_funding"])
    account.touched = set(data["touched"])
    for row in data["positions"]:
        pos = decode(Position, row)
        isolated, pos.isolated_wallet = pos.isolated_wallet, Decimal(0)
        account.positions[(pos.symbol, PositionSide(pos.position_side))] = pos
        account._set_isolated_wallet(pos, isolated)  # keeps the running isolated total right
        account._reindex(pos)
    return account


def _rebuild_orders(state: SimState, orders: list[Order], algos: list[AlgoOrder]) -> None:
    """Orders by id (a later order wins a client id, as it does while running), open ones indexed."""
    state.orders, state.algos = {}, {}
    state.forget_none_until_ms = 0  # other orders: order_memory.py looks afresh
    state._open_orders, state._open_algos, state._order_client_ids, state._algo_client_ids = {}, {}, {}, {}
    for order in sorted(orders, key=lambda o: o.order_id):
        state.orders[order.order_id] = order
        state._order_client_ids[order.client_order_id] = order
        if order.is_open:
            state._open_orders.setdefault(order.symbol, {})[order.order_id] = order
    for algo in sorted(algos, key=lambda a: a.algo_id):
        state.algos[algo.algo_id] = algo
        state._algo_client_ids[algo.client_algo_id] = algo
        if algo.is_open:
            state._open_algos.setdefault(algo.symbol, {})[algo.algo_id] = algo
