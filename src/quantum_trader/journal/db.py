"""Engines and schema migration for the journal.

SQLite is tuned for a single writer that must not lose an acknowledged row: WAL lets readers (API,
CLI) work while the engine writes, `synchronous=NORMAL` keeps commits durable across a process crash
at a fraction of FULL's cost, and `busy_timeout` makes a reader's lock a short wait instead of an
error. PostgreSQL goes through psycopg 3; a plain `postgresql://` URL is rewritten to it so users can
paste the URL their tools print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_URL = "sqlite:///./data/quantum_trader.db"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str | URL) -> URL:
    """Parse the URL and pick the driver we ship: psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"QT_DB_URL {parsed.render_as_string(hide_password=True)!r}: "
                         "only sqlite:/// and postgresql:// URLs are supported")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _ensure_parent(url: URL) -> None:
    """Create the folder of a SQLite file so the first start works on a fresh checkout."""
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine_for(url: str | URL = DEFAULT_URL) -> Engine:
    """An engine for the journal, with the per-dialect settings above applied on every connection."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        _ensure_parent(parsed)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Any:
    """An in-code Alembic config (no alembic.ini): the packaged migrations, run on this engine."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(url: str | URL | Engine = DEFAULT_URL) -> None:
    """Bring the schema to the newest version: creates it on first start, upgrades it later."""
    from alembic import command

    engine = url if isinstance(url, Engine) else create_engine_for(url)
    try:
        command.upgrade(alembic_config(engine), "head")
    finally:
        if engine is not url:
            engine.dispose()
