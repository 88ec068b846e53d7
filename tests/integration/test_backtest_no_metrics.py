"""A backtest serves no `/metrics`: its monitor reports to `NoMetrics`, and Prometheus is not even loaded (its
import was 17 ms of the peers' run). A session's `Metrics` and `NoMetrics` are both the monitor's port."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from test_cli_refusal_support import LINK

from quantum_trader.core.metrics import Metrics
from quantum_trader.core.monitor_metrics import MonitorMetrics, NoMetrics


def test_both_are_the_monitors_port() -> None:
    ports: list[MonitorMetrics] = [Metrics(), NoMetrics()]  # mypy checks each against the protocol
    for port in ports:
        port.set_positions(1, 1)
        port.add_unprotected_seconds(2.5)
        port.error("monitor")


@pytest.mark.skipif(not LINK.is_file(), reason=f"real Binance kline file not found at {LINK}")
def test_a_backtest_loads_no_prometheus() -> None:
    script = textwrap.dedent(f"""
        import atexit, sys
        atexit.register(lambda: print("prometheus loaded:", "prometheus_client" in sys.modules, flush=True))
        sys.argv = ["quantum-trader", "backtest", "--data", {str(LINK)!r}, "--end", "2026-02-03", "--json"]
        from quantum_trader.cli.main import app
        app()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "prometheus loaded: False"
    assert '"trades"' in done.stdout
