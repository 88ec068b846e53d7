"""The SQLite-file URLs settings accept without importing SQLAlchemy are read exactly as SQLAlchemy reads them.

`settings.rules` checks `sqlite:///PATH` (and `sqlite+DRIVER://...`) itself, so that a backtest or a
sweep worker does not import SQLAlchemy (0.2-0.3 s) just to validate a journal URL it never opens. That
is only sound if SQLAlchemy's own parser parses every URL the shortcut takes, as the same backend, with
nothing in it to check or hide; these tests compare the two on generated URLs and prove the shortcut is taken.
"""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from quantum_trader.settings.rules import SQLITE_FILE_URL, _db_backend, _db_url_parts, check_db_url

PATH_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
DRIVER = st.sampled_from(["", "+pysqlite", "+aiosqlite", "+pysqlcipher"])


@given(DRIVER, PATH_TEXT, st.booleans())
def test_every_url_the_shortcut_takes_reads_as_sqlalchemy_reads_it(driver: str, path: str, rooted: bool) -> None:
    text = f"sqlite{driver}://" + (f"/{path}" if rooted else "")
    if not SQLITE_FILE_URL.fullmatch(text):
        return  # a '?' in the path: left to SQLAlchemy
    url = make_url(text)  # parses: the shortcut accepts nothing SQLAlchemy refuses
    assert _db_backend(text) == url.get_backend_name() == "sqlite"
    assert url.password is None and url.host is None and url.port is None  # nothing a check could object to


def test_urls_with_anything_to_hide_or_check_go_to_sqlalchemy() -> None:
    for text in ("sqlite://user:pw@host/x.db", "sqlite:///x.db?mode=ro", "postgresql://u:pw@h:5432/db",
                 "sqlite://host:notaport/x"):
        assert not SQLITE_FILE_URL.fullmatch(text), text
    assert _db_backend("postgresql://u:pw@h/db") == "postgresql"
    assert _db_url_parts("postgresql://u:pw@h/db") == ("postgresql", "postgresql://u:***@h/db")
    assert check_db_url(" sqlite:///journal.db ") == "sqlite:///journal.db"


def test_loading_default_settings_imports_no_sqlalchemy() -> None:
    """Fails if the shortcut is removed: the settings' URL check would import SQLAlchemy again."""
    code = ("import sys; from quantum_trader.settings.model import load_settings; load_settings(); "
            "print('sqlalchemy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "QT_DB_URL": "sqlite:///some/journal.db"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
