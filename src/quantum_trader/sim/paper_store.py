"""The paper account on disk: a simulator saved after every change, atomically, and reopened at start.

Layout: a folder (`QT_PAPER_STATE`) holding `state-a.json` and `state-b.json`, which saves that change
the account take in turn, and `state-prices.json` for saves of bars that only moved prices. A file is a
header line (format, schema, sequence number, length, CRC-32) and the snapshot (sim/persistence.py).
Each save writes a temporary file, fsyncs it if the account changed, and then puts it in place of its
target. Opening takes the valid file with the highest sequence number, so a `kill -9` at any moment
leaves at worst a partial temporary file, which fails its length and CRC check and is ignored; a damaged
newest file (a truncated copy, a bad disk) leaves an older one in charge; files exist but none is valid:
a clear error, never a silent fresh account.

When to save: a call that the outside world can hear about (it emitted an event: a fill, an order
update, funding) or that changes the account's settings (orders, cancels, leverage, margin type) is
saved, durably, before the call returns, so nothing the bot journals can be newer than the account on
disk. A market step that moved prices and nothing else is saved on the next turn of the event loop
(once per bar, not once per symbol) without fsync: a process crash cannot undo a rename the kernel has
done, and a power cut can damage only the prices file, never the two account files, which were flushed
before their rename. Saving each bar without a disk flush is what keeps `--speed max` fast (README).

A lock (`flock` on `lock`) keeps two processes from writing one account; the kernel drops it when its
holder dies, so a `kill -9` never leaves a stale lock behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import uuid
import zlib
from pathlib import Path
from typing import IO, Any

from ..domain.errors import QuantumTraderError
from .engine import ExchangeSimulator
from .persistence import SCHEMA, Json, PaperStateError, SnapshotCache, restore, snapshot_text

log = logging.getLogger(__name__)
FORMAT = "quantum-trader paper account"
#: Saves that change the account alternate between these two, each fsynced before its rename.
SLOTS = ("state-a.json", "state-b.json")
#: Saves of a bar that only moved prices go here, without fsync: a power cut can damage only this file,
#: and the account saves in SLOTS are still whole.
PRICES = "state-prices.json"
FILES = (*SLOTS, PRICES)
TEMP = ".tmp"
LOCK = "lock"
#: The account's random id, made with the account and erased with it: the journal tells one account's
#: sessions from the next one's by it (a restart keeps the daily loss limit's day start of the same account).
ACCOUNT_ID = "account-id"


class PaperAccountInUse(QuantumTraderError):
    """Another process holds the paper account (a second bot, or `paper-reset` while one runs)."""


def encode_file(seq: int, body_text: str) -> bytes:
    """A header line (format, schema, sequence number, length, CRC-32 of the body), then the snapshot."""
    body = body_text.encode()
    header = {"format": FORMAT, "schema": SCHEMA, "seq": seq, "bytes": len(body), "crc32": zlib.crc32(body)}
    return json.dumps(header).encode() + b"\n" + body


def decode_file(raw: bytes) -> tuple[int, Json]:
    """(sequence number, snapshot) of one slot's bytes; PaperStateError says what is wrong with it."""
    head, sep, body = raw.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise PaperStateError("unreadable header") from exc
    if not sep or not isinstance(header, dict) or header.get("format") != FORMAT:
        raise PaperStateError("not a paper account file")
    if header.get("schema") != SCHEMA:
        raise PaperStateError(f"schema {header.get('schema')!r}, this version reads {SCHEMA}")
    if len(body) != header.get("bytes") or zlib.crc32(body) != header.get("crc32"):
        raise PaperStateError(f"truncated or damaged ({len(body)} of {header.get('bytes')} bytes, CRC mismatch)")
    return int(header["seq"]), json.loads(body)


def read_slots(folder: Path) -> tuple[dict[str, tuple[int, Json]], list[str]]:
    """Every valid file by name, and what is wrong with the others. A temporary file counts only when it is
    whole (its length and CRC match): that is a save caught between its two renaming steps (`write_slot`);
    a partial one is what a crash while writing leaves, and is ignored."""
    found: dict[str, tuple[int, Json]] = {}
    problems: list[str] = []
    for name in (*FILES, *(name + TEMP for name in FILES)):
        path = folder / name
        if not path.exists():
            continue
        try:
            found[name] = decode_file(path.read_bytes())
        except (OSError, PaperStateError) as exc:
            if not name.endswith(TEMP):
                problems.append(f"{path}: {exc}")
    return found, problems


def read_latest(folder: Path) -> tuple[int, Json] | None:
    """The newest valid file; None when there is no saved account; PaperStateError when none is readable."""
    found, problems = read_slots(folder)
    if found:
        for problem in problems:
            log.warning("paper account file ignored, an older one is used: %s", problem)
        return max(found.values(), key=lambda item: item[0])
    if problems:
        raise PaperStateError("QT_PAPER_STATE: the saved paper account cannot be read (" + "; ".join(problems)
                              + "); `quantum-trader paper-reset` starts a fresh one")
    return None


def write_slot(folder: Path, name: str, data: bytes, *, durable: bool) -> Path:
    """Write `data` as file `name`: a temporary file (fsynced if durable), then the old file unlinked and the
    temporary one renamed in its place.

    Unlink-then-rename rather than a rename over the old file: ext4 flushes a file renamed over another
    one (its `auto_da_alloc` safeguard), which would cost a disk write per bar. Between the two steps the
    whole temporary file is the newest save, and `read_slots` takes it. The folder is not fsynced: after a
    power cut a rename may be undone, which leaves the previous save, the same loss as the change in flight."""
    target = folder / name
    temp = target.with_name(target.name + TEMP)
    with open(temp, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)
    os.rename(temp, target)
    return target


def erase(folder: Path) -> list[Path]:
    """Delete the saved account (every file, temporary ones too); refuses while a bot holds it."""
    if not folder.exists():
        return []
    with _locked(folder):
        removed = []
        for name in (*FILES, *(name + TEMP for name in FILES), ACCOUNT_ID, ACCOUNT_ID + TEMP):
            path = folder / name
            if path.exists():
                path.unlink()
                removed.append(path)
        return removed


def account_id_of(folder: Path, *, fresh: bool) -> str:
    """The saved account's id: a new one for a `fresh` account, or for a saved one from before ids existed."""
    path = folder / ACCOUNT_ID
    if not fresh:
        with contextlib.suppress(OSError):
            known = path.read_text(encoding="utf-8").strip()
            if known:
                return known
    made = uuid.uuid4().hex
    staged = folder / (ACCOUNT_ID + TEMP)
    staged.write_text(made + "\n", encoding="utf-8")
    os.replace(staged, path)
    return made


@contextlib.contextmanager
def _locked(folder: Path) -> Any:
    handle = _lock(folder)
    try:
        yield
    finally:
        handle.close()


def _lock(folder: Path) -> IO[bytes]:
    handle = open(folder / LOCK, "ab")  # noqa: SIM115  (held for the store's life, closed in close())
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise PaperAccountInUse(f"{folder} is in use by another quantum-trader process") from None
    return handle


class PaperAccountStore:
    """Keeps one simulator's state in `folder`: `open(sim)` restores (or starts) it and saves every change."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.saves = 0
        self._seq = 0
        self._next_slot = 0  # index in SLOTS of the next account save: the one holding the older save
        self._sim: ExchangeSimulator | None = None
        self._lock: IO[bytes] | None = None
        self._heard = self._heard_at_save = 0
        self._pending = False
        self._cache = SnapshotCache()
        #: This account's random id (`ACCOUNT_ID`), known once `open` has run.
        self.account_id = ""

    def open(self, sim: ExchangeSimulator) -> bool:
        """Lock the folder, load the saved account into `sim` (True) or save `sim` as the new one (False),
        and save after every later change."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.folder)
        try:
            latest = read_latest(self.folder)
            if latest is not None:
                self._seq, data = latest
                restore(sim.state, data)
            found, _ = read_slots(self.folder)
            seqs = [max(found[n][0] if n in found else -1 for n in (name, name + TEMP)) for name in SLOTS]
            self._next_slot = seqs.index(min(seqs))
        except BaseException:
            self.close()
            raise
        self._attach(sim)
        if latest is None:
            self.save(durable=True)
        try:
            self.account_id = account_id_of(self.folder, fresh=latest is None)
        except BaseException:
            self.close()
            raise
        return latest is not None

    def _attach(self, sim: ExchangeSimulator) -> None:
        self._sim = sim
        previous = sim.state.event_sink

        def heard(event: Any) -> None:
            self._heard += 1
            if previous is not None:
                previous(event)

        sim.state.event_sink = heard
        sim.listener = self

    # --- the simulator's ChangeListener ----------------------------------------------------------
    def changed(self, *, market_only: bool) -> None:
        if not market_only or self._heard != self._heard_at_save:
            self.save(durable=True)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script, a test): there is no "next turn", save now
            self.save(durable=False)
            return
        if not self._pending:
            self._pending = True
            loop.call_soon(self._deferred)

    def _deferred(self) -> None:
        if not self._pending:
            return
        try:
            self.save(durable=False)
        except OSError:
            log.exception("paper account: saving the latest prices failed; the next change retries")

    # --- saving ----------------------------------------------------------------------------------
    def save(self, *, durable: bool = True) -> None:
        if self._sim is None:
            raise RuntimeError("PaperAccountStore.save before open()")
        self._pending = False
        self._heard_at_save = self._heard
        self._seq += 1
        if durable:
            name, self._next_slot = SLOTS[self._next_slot], 1 - self._next_slot
        else:
            name = PRICES
        write_slot(self.folder, name, encode_file(self._seq, snapshot_text(self._sim.state, self._cache)),
                   durable=durable)
        self.saves += 1

    def close(self) -> None:
        """Save what is pending, stop saving and release the lock (a clean stop: the simulator's
        `detach_listener`)."""
        if self._sim is not None and self._pending:
            self.save(durable=True)
        if self._sim is not None and self._sim.listener is self:
            self._sim.listener = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
