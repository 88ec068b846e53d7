"""A journal reading for a running bot's API, recomputed when the journal may have changed, and not too often.

The stop audit and the readiness checklist read every closed position of the journal: 0.17 s and 0.27 s with
1,671 of them (the audit's answer 1 MB), growing with the journal. The dashboard asks for both whenever the
session's revision moves, at most every 1.5 s, so a bot that had traded for a month with a page open spent a
third of its time reading its own history, holding the GIL against the trading loop. Here a reading is kept
while the revision it was computed at still stands; once it moved, it is recomputed no sooner than `MIN_AGE_S`
after the last computation, or 20 times what that one cost (so that reading can never take more than about
5 % of the process however large the journal grows). Unchanged, it is refreshed every `MAX_AGE_S` all the same:
readiness counts hours of session time, and a batched journal writes a little after the event that moved the
revision.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MIN_AGE_S = 2.0
MAX_AGE_S = 60.0
#: A reading is kept at least this many times as long as it took to compute.
COST_FACTOR = 20.0


class Recomputed(Generic[T]):
    """`compute()` at most once per change of `revision()`, with the limits of the module doc."""

    def __init__(self, compute: Callable[[], T], revision: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._compute, self._revision, self._clock = compute, revision, clock
        self._lock = threading.Lock()  # two pages asking at once compute once
        self._value: T | None = None
        self._seen = -1
        self._at = 0.0
        self._cost = 0.0

    def get(self) -> T:
        with self._lock:
            now, revision = self._clock(), self._revision()
            if self._value is not None:
                age = now - self._at
                if age < max(MIN_AGE_S, COST_FACTOR * self._cost):
                    return self._value  # too soon after the last computation, whatever changed
                if revision == self._seen and age < MAX_AGE_S:
                    return self._value  # nothing changed
            started = self._clock()
            self._value = self._compute()
            self._at, self._seen, self._cost = started, revision, self._clock() - started
            return self._value
