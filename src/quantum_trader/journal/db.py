"""Engines and schema migration for the journal.

SQLite is tuned for a single writer that must not lose an acknowledged row: WAL lets readers (API,
CLI) work while the engine writes, `synchronous=NORMAL` keeps commits durable across a process crash
at a fraction of FULL's cost, and `busy_timeout` makes a reader's lock a short wait instead of an
error. PostgreSQL goes through psycopg 3; a plain `postgresql://` URL is rewritten to it so users can
paste the URL their tools print.

A journal that cannot be opened (server down, wrong password, unreadable or foreign file, missing
driver) is a configuration problem the user fixes in `QT_DB_URL`: `migrate` says so in one line,
password hidden, as `JournalUnavailable` (a ConfigError: exit 2), not as a driver traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from ..domain.errors import ConfigError

DEFAULT_URL = "sqlite:///./data/quantum_trader.db"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 10


class JournalUnavailable(ConfigError):
    """The journal's database cannot be opened or migrated; the message names QT_DB_URL without its password."""


def unavailable(url: str | URL, exc: BaseException, name: str = "QT_DB_URL") -> JournalUnavailable:
    """One line: the URL (password hidden) after `name`, the setting or option it came from (`QT_DB_URL=URL`,
    `--db URL`), then the driver's first line of reason (password scrubbed)."""
    try:
        parsed = make_url(url)
        shown, password = parsed.render_as_string(hide_password=True), parsed.password
    except Exception:  # an unparsable URL: show nothing of it
        shown, password = "(unparsable URL)", None
    reason = str(getattr(exc, "orig", None) or exc).strip()
    reason = reason.splitlines()[0] if reason else type(exc).__name__
    if isinstance(exc, ImportError):
        reason = f"its driver is not installed ({reason}); pip install 'quantum-trader[postgres]'"
    if password:
        reason = reason.replace(str(password), "***")
    given = f"{name} {shown}" if name.startswith("-") else f"{name}={shown}"
    return JournalUnavailable(f"{given}: cannot open the journal: {reason}")


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
    # An unreachable host would otherwise hang start-up for the kernel's TCP timeout (minutes), silently.
    timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return create_engine(parsed, pool_pre_ping=True, connect_args=timeout)


def alembic_config(engine: Engine) -> Any:
    """An in-code Alembic config (no alembic.ini): the packaged migrations, run on this engine."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(url: str | URL | Engine = DEFAULT_URL, *, name: str = "QT_DB_URL") -> None:
    """Bring the schema to the newest version: creates it on first start, upgrades it later. `name`: where
    the URL came from, as a refusal names it (`--db` for a command's flag)."""
    from alembic import command
    from alembic.util.exc import CommandError

    shown = url.url if isinstance(url, Engine) else url  # as the user wrote it, not the driver's rewrite
    try:
        engine = url if isinstance(url, Engine) else create_engine_for(url)
    except (SQLAlchemyError, OSError, ImportError) as exc:
        raise unavailable(shown, exc, name) from None
    try:
        with engine.connect():
            pass  # unreachable server, bad credentials, unreadable file: say so before Alembic's traceback
        command.upgrade(alembic_config(engine), "head")
    except (SQLAlchemyError, OSError, CommandError) as exc:
        raise unavailable(shown, exc, name) from None
    finally:
        if engine is not url:
            engine.dispose()
