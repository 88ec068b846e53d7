"""A refused `--param` is echoed as the user typed it: `--param take_profit_pct=150` was refused as
`--param take_profit_pct=150.0: must be less than 100` (the value went to the settings as the parsed float's
text), a value the user never wrote. Since the declared range is the settings' own (above 0, below 100), the
declaration refuses it first, as typed too."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.research.backtest_job import BacktestJob, prepare
from quantum_trader.signals.params import ParamError


@pytest.mark.parametrize(("typed", "origin"), [("150", "--param"), ("150.00", "--param"), ("2e2", "--grid")])
def test_a_refused_risk_value_is_shown_as_typed(typed: str, origin: str) -> None:
    job = BacktestJob(Path("unused.csv"), "sma-cross").with_params({"take_profit_pct": typed}, origin)
    with pytest.raises(ParamError) as refused:
        prepare(job)
    assert str(refused.value).startswith(f"{origin} take_profit_pct={typed}: out of range (float above 0 and below "
                                         "100")
