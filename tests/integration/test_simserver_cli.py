"""`quantum-trader sim-server` option handling (the serving itself is covered by the other server tests)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.cli.sim_server_cmd import select_universe


def test_unknown_symbol_exits_2() -> None:
    result = CliRunner().invoke(app, ["sim-server", "--symbols", "BTCUSDT,NOPEUSDT"])
    assert result.exit_code == 2
    assert "NOPEUSDT" in result.output


def test_symbols_count_or_list() -> None:
    assert len(select_universe("222")) == 222
    assert select_universe("5").symbols[0] == "BTCUSDT"
    assert set(select_universe("bnbusdt, BTCUSDT").symbols) == {"BNBUSDT", "BTCUSDT"}
    with pytest.raises(typer.BadParameter):
        select_universe("0")
