"""A batch's order upserts folded into one row per order (journal/statements.py `merged_order_upserts`) leave the
orders table exactly as running every upsert in turn does, whatever the statuses and the rows already stored."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from quantum_trader.journal import create_engine_for, migrate
from quantum_trader.journal.statements import BulkExecutor, merged_order_upserts

STATUSES = ("INTENT", "OPEN", "PARTIALLY_FILLED", "FILLED", "TRIGGERED", "CANCELED", "REJECTED", "DRY_RUN")


def order_row(rng: random.Random, client_id: str, time_ms: int) -> dict[str, Any]:
    """A row as codec.py makes them, with the fields an upsert merges sometimes unknown (None)."""
    def maybe(value: object) -> object:
        return None if rng.random() < 0.4 else value

    return {"client_id": client_id, "session_id": maybe(rng.randint(1, 3)), "trade_id": maybe(f"t{rng.randint(1, 9)}"),
            "purpose": maybe(rng.choice(["entry", "sl", "tp"])), "symbol": "BTCUSDT", "side": "BUY",
            "type": "MARKET", "quantity": maybe(Decimal(rng.randint(1, 99)) / 100),
            "price": maybe(Decimal(rng.randint(1, 99))), "trigger_price": maybe(Decimal("1.5")),
            "reduce_only": rng.random() < 0.5, "close_position": rng.random() < 0.5,
            "working_type": "CONTRACT_PRICE", "status": rng.choice(STATUSES), "venue_id": maybe(str(rng.randint(1, 9))),
            "filled": maybe(Decimal(rng.randint(0, 9))), "avg_price": maybe(Decimal("2.25")),
            "dry_run": rng.random() < 0.1, "created_ms": time_ms, "updated_ms": time_ms,
            "reject_code": maybe(-2021), "reject_msg": maybe("no")}


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT rowid, * FROM orders"))]


def write(engine: Engine, batches: list[list[dict[str, Any]]], *, one_by_one: bool) -> None:
    bulk = BulkExecutor(engine.dialect)
    for batch in batches:
        with engine.begin() as conn:
            for row in batch if one_by_one else [None]:
                rows = [dict(row)] if row is not None else [dict(r) for r in batch]
                bulk.execute(conn, "order_upsert", rows)


def test_folded_upserts_leave_the_same_rows_as_one_by_one(tmp_path: Path) -> None:
    rng = random.Random(13)
    for trial in range(40):
        rows = [order_row(rng, f"c{rng.randint(1, 5)}", t) for t in range(rng.randint(1, 30))]
        cut = sorted(rng.sample(range(len(rows) + 1), min(2, len(rows) + 1)))
        batches = [rows[:cut[0]], rows[cut[0]:cut[-1]], rows[cut[-1]:]]
        batches = [b for b in batches if b]
        tables = []
        for one_by_one in (True, False):
            url = f"sqlite:///{tmp_path / f'{trial}-{one_by_one}.db'}"
            migrate(url)
            engine = create_engine_for(url)
            with engine.begin() as conn:  # the sessions the rows name
                conn.execute(text("INSERT INTO sessions (id, started_ms, mode, settings, version) "
                                  "VALUES (1, 0, 'backtest', '{}', 't'), (2, 0, 'backtest', '{}', 't'), "
                                  "(3, 0, 'backtest', '{}', 't')"))
            write(engine, batches, one_by_one=one_by_one)
            tables.append(stored(engine))
            engine.dispose()
        assert tables[0] == tables[1], f"trial {trial}"


def test_an_orders_life_in_one_batch_is_one_upsert() -> None:
    rows = [{"client_id": "a", "status": s, "venue_id": None, "updated_ms": t, "dry_run": False, "purpose": p}
            for t, (s, p) in enumerate([("INTENT", "sl"), ("OPEN", None), ("TRIGGERED", None), ("FILLED", None),
                                        ("TRIGGERED", None)])]
    merged = merged_order_upserts(rows, tuple(rows[0]))
    assert [(r["status"], r["purpose"], r["updated_ms"]) for r in merged] == [("OPEN", "sl", 1), ("FILLED", None, 4)]
