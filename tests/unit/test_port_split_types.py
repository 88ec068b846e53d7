"""Only execution can change orders, and that is a type error elsewhere, not a code-review hope.

mypy checks a small module that tries to cancel and place through the objects the monitor, the kill
switch and the engine hand out; every attempt must be refused, while execution's gateway is allowed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api

SNIPPET = textwrap.dedent('''
    from quantum_trader.domain.exchange_types import OrderIntent
    from quantum_trader.runtime.wiring import Engine
    from quantum_trader.trading.execution import Execution
    from quantum_trader.trading.kill_switch import KillSwitchHandler
    from quantum_trader.trading.monitor import PositionMonitor


    async def from_elsewhere(monitor: PositionMonitor, kill: KillSwitchHandler, engine: Engine,
                             intent: OrderIntent) -> None:
        await monitor.exchange.cancel("BNBUSDT", "qt-x-sl-0")
        await kill.reader.place(intent)
        await engine.exchange.set_leverage("BNBUSDT", 5)


    async def from_execution(execution: Execution, intent: OrderIntent) -> None:
        await execution.gateway.place(intent)
''')


def test_order_changes_outside_execution_do_not_type_check(tmp_path: Path) -> None:
    module = tmp_path / "reach_the_exchange.py"
    module.write_text(SNIPPET)
    out, err, status = api.run([str(module), "--strict", "--no-error-summary", "--follow-imports=silent",
                                "--cache-dir", str(tmp_path / "cache")])
    assert status == 1, out + err
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert [line.split(": error: ", 1)[1] for line in errors] == [
        '"ExchangeReader" has no attribute "cancel"  [attr-defined]',
        '"ExchangeReader" has no attribute "place"  [attr-defined]',
        '"ExchangeReader" has no attribute "set_leverage"  [attr-defined]',
    ], out
