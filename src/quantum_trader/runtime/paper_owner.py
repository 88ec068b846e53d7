"""Which journal a paper account belongs to, so that one journal never resumes another's account.

`QT_PAPER_STATE` defaults to `paper_account/` beside the SQLite journal, so two journals in one folder
(`--db sqlite:///runs/a.db`, then `--db sqlite:///runs/b.db`) would share one account: b would resume a's
wallet, positions and orders and adopt a's positions as trades it never opened, its readiness evidence
mixed with a's. The account therefore records its journal's identity (a random id the journal holds,
migration 0004) in a small file beside it, and a session refuses to resume an account another journal
traded, before it journals anything. A folder without a saved account belongs to the journal that starts
there; an account from before this file existed belongs to the next journal that resumes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..domain.errors import ConfigError
from ..journal.reader import JournalReader
from ..settings.rules import hide_db_password

OWNER_FILE = "journal"


def journal_identity(db_url: str) -> str | None:
    """The journal's id (None for a journal not migrated to revision 0004)."""
    reader = JournalReader(db_url)
    try:
        return reader.identity()
    finally:
        reader.close()


def owner_of(folder: Path) -> str | None:
    """The id of the journal the account in `folder` belongs to (None: nobody's yet)."""
    path = folder / OWNER_FILE
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def bind_paper_account(folder: Path, identity: str, *, resumed: bool, db_url: str) -> None:
    """With the account open (its lock held): refuse a `resumed` account of another journal (a `ConfigError`
    naming both and the fix), else record that the account is this journal's."""
    owner = owner_of(folder)
    if owner == identity:
        return
    if owner is not None and resumed:
        raise ConfigError(
            f"QT_PAPER_STATE={folder}: this paper account belongs to another journal (id {owner}), not to "
            f"QT_DB_URL={hide_db_password(db_url)} (id {identity}); give this journal an account of its own with "
            f"--paper-state (QT_PAPER_STATE), or erase that account (the other journal's positions with it) with "
            f"`quantum-trader paper-reset`")
    staged = folder / f".{OWNER_FILE}.tmp"
    staged.write_text(identity + "\n", encoding="utf-8")
    os.replace(staged, folder / OWNER_FILE)
