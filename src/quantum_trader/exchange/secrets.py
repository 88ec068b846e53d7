"""A credential that never prints: repr, str and format show only that it is set.

Keys travel from settings to the ccxt client and nowhere else; wrapping them means an exception
message, a log line or a debugger's repr of an adapter cannot leak them by accident.
"""

from __future__ import annotations

from typing import Final

REDACTED: Final = "**********"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def of(cls, value: str | Secret | None) -> Secret:
        if isinstance(value, Secret):
            return value
        return cls(value or "")

    def reveal(self) -> str:
        """The plain value, for the one place that signs requests."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({REDACTED if self._value else ''!r})"

    def __str__(self) -> str:
        return REDACTED if self._value else ""

    def __format__(self, spec: str) -> str:
        return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
