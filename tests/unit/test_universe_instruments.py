"""`Universe.instruments()`: every member's instrument by symbol, built only when read."""

from __future__ import annotations

import pytest

from quantum_trader.domain.instrument_parse import instrument_from_symbol_info
from quantum_trader.sim.universe import Universe, load_universe


def fresh_universe() -> Universe:
    """The packaged universe with an empty instrument cache (the process-wide one is shared by other tests)."""
    return Universe(load_universe()._table)


def test_only_the_instruments_read_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def counting(info, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(info["symbol"])
        return instrument_from_symbol_info(info, *args, **kwargs)

    monkeypatch.setattr("quantum_trader.sim.universe.instrument_from_symbol_info", counting)
    universe = fresh_universe()
    instruments = universe.instruments()
    assert len(instruments) == len(universe) and built == []
    assert "BNBUSDT" in instruments and "NOPEUSDT" not in instruments and built == []
    assert instruments["BNBUSDT"] is universe.instrument("BNBUSDT")
    assert built == ["BNBUSDT"]


def test_it_is_a_mapping_over_the_members_in_rank_order() -> None:
    universe = fresh_universe().subset(["ETHUSDT", "BTCUSDT", "BNBUSDT"])
    instruments = universe.instruments()
    assert list(instruments) == list(universe.symbols)
    assert instruments.get("NOPEUSDT") is None
    assert instruments.get("SOLUSDT") is None  # in the packaged universe, not in this subset
    with pytest.raises(KeyError):
        _ = instruments["SOLUSDT"]
    assert {s: i.symbol for s, i in instruments.items()} == {s: s for s in universe.symbols}
