"""The `quantum-trader` command imports only what the command being run needs.

Every subcommand module is imported to build the command line, so one heavy import at the top of any of
them is paid by every command: `paper-reset` pulling in the journal (SQLAlchemy, its ORM models: about
0.3 s) made a backtest of a million bars 10 % slower as a whole process. These tests fail if a command
module imports such a library at the top again.
"""

from __future__ import annotations

import subprocess
import sys

#: Libraries a backtest without `--db` never uses: the journal's, the API's, the exchange clients'.
NOT_FOR_A_BACKTEST = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "ccxt", "lightgbm", "ray", "optuna",
                      "matplotlib", "apprise")


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_building_the_command_line_imports_no_heavy_library() -> None:
    loaded = _modules_after("from quantum_trader.cli.main import app\n"
                            "from typer.main import get_command\n"
                            "group = get_command(app)\n"
                            "group.list_commands(__import__('typer').Context(group))")
    assert "quantum_trader.cli.paper_reset_cmd" in loaded  # listing the commands registers every one
    assert not {name for name in NOT_FOR_A_BACKTEST if name in loaded}


def test_running_a_command_imports_its_own_module_only() -> None:
    """`quantum-trader backtest` built the 16 other commands too (their modules imported, typer reading each
    function's signature): about 30 ms of every process. A command's module is imported when it is looked up."""
    loaded = _modules_after("from quantum_trader.cli.main import app\n"
                            "from typer.main import get_command\n"
                            "group = get_command(app)\n"
                            "assert group.get_command(__import__('typer').Context(group), 'backtest') is not None")
    commands = {name for name in loaded if name.startswith("quantum_trader.cli.") and name.endswith("_cmd")}
    assert commands == {"quantum_trader.cli.backtest_cmd"}


def test_building_the_command_line_leaves_the_engine_for_the_commands_that_run_it() -> None:
    """The backtest command imported the engine (simulator, risk, execution, journal types) at the top: 0.3 s
    of every `quantum-trader` command, `--help` and `positions` included; it is imported when a backtest runs."""
    loaded = _modules_after("from quantum_trader.cli.main import app")
    assert not {"quantum_trader.research.backtest", "quantum_trader.research.backtest_job"} & loaded


def test_a_backtest_job_imports_no_heavy_library() -> None:
    loaded = _modules_after("from quantum_trader.cli.main import app\n"
                            "from quantum_trader.research.backtest_job import BacktestJob, prepare\n"
                            "prepare(BacktestJob(__import__('pathlib').Path('x.csv')))")
    assert not {name for name in NOT_FOR_A_BACKTEST if name in loaded}
