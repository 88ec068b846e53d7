"""Opening the journal for `audit` and `readiness`: a missing or table-less journal is an empty history.

Its own module so that SQLAlchemy and the journal's models (0.3 s of imports) load only when one of
those commands runs, not on every `quantum-trader` invocation (a backtest never opens a journal).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..journal.db import create_engine_for, migrate, unavailable
from ..journal.reader import JournalReader
from ..settings.rules import hide_db_password

EXIT_UNREADABLE = 2  # like `run`: a journal that cannot be opened is a QT_DB_URL to fix, not "not ready"
#: Any table a migrated journal has: its absence means "never written to".
MARKER_TABLE = "positions"


def _sqlite_file_missing(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not Path(database).expanduser().exists()


def _has_journal(reader: JournalReader) -> bool:
    return inspect(reader.engine).has_table(MARKER_TABLE)


@contextmanager
def _empty_journal() -> Iterator[JournalReader]:
    """A migrated, empty journal in a temporary folder: the history of a bot that never ran."""
    with tempfile.TemporaryDirectory(prefix="qt-empty-journal-") as folder:
        engine = create_engine_for(f"sqlite:///{Path(folder) / 'empty.db'}")
        try:
            migrate(engine)
            yield JournalReader(engine)
        finally:
            engine.dispose()


@contextmanager
def open_journal(url: str) -> Iterator[JournalReader]:
    """A reader on the journal at `url`, or on an empty one (with a note on stderr) when there is none yet."""
    shown = hide_db_password(url)
    if _sqlite_file_missing(url):
        typer.echo(f"note: no journal at {shown} yet: an empty history", err=True)
        with _empty_journal() as reader:
            yield reader
        return
    reader = JournalReader(url)
    try:
        if not _has_journal(reader):
            typer.echo(f"note: the journal at {shown} has no tables yet: an empty history", err=True)
            with _empty_journal() as empty:
                yield empty
            return
        yield reader
    finally:
        reader.close()


def evaluate(url: str, compute: Any, name: str = "QT_DB_URL") -> dict[str, Any]:
    """Run `compute(reader)` on the journal; one line naming `name` (QT_DB_URL, or `--db` when the URL came
    from it) and exit 2 if it cannot be read."""
    try:
        with open_journal(url) as reader:
            document: dict[str, Any] = compute(reader)
            return document
    except (SQLAlchemyError, OSError, ImportError) as exc:
        typer.echo(f"error: {unavailable(url, exc, name)}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
