"""Alembic environment: runs on the engine handed over by `journal.db.migrate` (no alembic.ini).

Run by hand (`alembic -x url=sqlite:///data/quantum_trader.db upgrade head` with a config whose
script_location points here) it builds its own engine from `-x url=...` or `QT_DB_URL`.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Engine

from quantum_trader.journal.db import DEFAULT_URL, create_engine_for
from quantum_trader.journal.models import Base


def _engine() -> tuple[Engine, bool]:
    given = context.config.attributes.get("engine")
    if isinstance(given, Engine):
        return given, False
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("QT_DB_URL", DEFAULT_URL)
    return create_engine_for(url), True


def run_migrations_online() -> None:
    engine, owned = _engine()
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the journal's migrations run online only (they need a connection)")
run_migrations_online()
