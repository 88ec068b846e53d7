"""The journal: every decision, order, fill and trade of a session, in SQLite or PostgreSQL.

`migrate(url)` creates or upgrades the schema; `Journal` records events from the bus (write-ahead
with `batch_size=1`, batched for backtests); `JournalReader` answers the API, CLI, audit and the
reconciliation after a restart.
"""

from .db import DEFAULT_URL, create_engine_for, migrate, normalise_url
from .reader import JournalReader
from .writer import Journal

__all__ = ["DEFAULT_URL", "Journal", "JournalReader", "create_engine_for", "migrate", "normalise_url"]
