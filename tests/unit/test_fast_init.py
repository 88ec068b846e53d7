"""`fast_init` builds the very objects the dataclass's own `__init__` builds, for every class it is on.

Each decorated class is checked against the `__init__` it replaced: the same signature, and, given a distinct
object for every parameter (then only the required ones), the same value in every slot; the object stays
frozen, equal and hashed as before. The classes it cannot take are refused, naming the reason.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

import pytest

import quantum_trader.domain.events
import quantum_trader.domain.exchange_types
import quantum_trader.domain.fills
import quantum_trader.sim.fees
import quantum_trader.sim.income
import quantum_trader.sim.market
import quantum_trader.sim.params
import quantum_trader.sim.replay_step
import quantum_trader.trading.protection_outage
import quantum_trader.trading.sending  # noqa: F401  (each module decorates its classes when imported)
from quantum_trader.domain.fast_init import fast_init, original_init

DECORATED = sorted(original_init, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


class _Token:
    """A distinct, hashable stand-in for any value (a slot takes any object)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _slots(obj: object) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


def _built(cls: type, init: Any, args: dict[str, Any]) -> object:
    obj = object.__new__(cls)
    init(obj, **args)
    return obj


def test_the_hot_classes_are_decorated() -> None:
    names = {cls.__name__ for cls in DECORATED}
    assert {"OrderSnapshot", "OrderChanged", "ProtectionAction", "Signal", "RiskDecision", "FillEvent"} <= names
    assert len(DECORATED) >= 20


@pytest.mark.parametrize("cls", DECORATED, ids=lambda cls: cls.__name__)
def test_a_decorated_class_builds_what_its_own_init_built(cls: type) -> None:
    mine, theirs = inspect.signature(cls.__init__), inspect.signature(original_init[cls])
    assert mine == theirs
    parameters = list(mine.parameters.values())[1:]
    every = {p.name: _Token(p.name) for p in parameters}
    required = {p.name: every[p.name] for p in parameters if p.default is inspect.Parameter.empty}
    for args in (every, required):
        fast, slow = cls(**args), _built(cls, original_init[cls], args)
        assert _slots(fast) == _slots(slow)
        assert all(_slots(fast)[name] is value for name, value in args.items())
        assert fast == slow and hash(fast) == hash(slow)
    name = parameters[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cls(**required), name, 1)


def test_positional_arguments_go_where_the_dataclass_puts_them() -> None:
    @fast_init
    @dataclass(frozen=True, slots=True)
    class Pair:
        first: int
        second: int = 2
        hidden: str = field(default="h", init=False)
        made: list[int] = field(default_factory=lambda: [7], init=False)
        _: dataclasses.KW_ONLY
        third: int = 3

    pair = Pair(1)
    assert (pair.first, pair.second, pair.third, pair.hidden, pair.made) == (1, 2, 3, "h", [7])
    assert Pair(1, 5, third=6) == Pair(first=1, second=5, third=6)
    with pytest.raises(TypeError):
        Pair(1, 5, 6)  # type: ignore[misc]  # third is keyword-only, as the dataclass made it
    assert Pair(1).made is not Pair(1).made  # a factory's value made afresh


def test_what_it_cannot_take_is_refused() -> None:
    @dataclass(slots=True)
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Factory:
        x: list[int] = field(default_factory=list)

    for cls, words in ((Mutable, "frozen dataclass with slots"), (NoSlots, "frozen dataclass with slots"),
                       (Checked, "__post_init__"), (Factory, "default_factory")):
        with pytest.raises(TypeError, match=words):
            fast_init(cls)
