"""The deployment files say what docs/deployment.md promises (no Docker or systemd needed to check)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "quantum-trader.service"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_compose_services_healthchecks_and_order() -> None:
    services = compose()["services"]
    assert set(services) == {"backend", "db"}
    backend, db = services["backend"], services["db"]
    assert backend["build"] == "."
    assert backend["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert backend["restart"] == "unless-stopped"
    assert "/health" in " ".join(backend["healthcheck"]["test"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["image"] == "postgres:16"


def test_compose_backend_environment_and_volume() -> None:
    data = compose()
    env = data["services"]["backend"]["environment"]
    assert env["QT_DB_URL"] == "postgresql://qt:qt@db:5432/qt"
    assert env["QT_API_HOST"] == "0.0.0.0"
    assert env["QT_PAPER_TRADING"] == "true"
    volume = data["services"]["db"]["volumes"][0].split(":")[0]
    assert volume in data["volumes"]


def test_compose_backend_environment_is_valid_settings() -> None:
    from quantum_trader.settings.model import load_settings

    env = {k: v for k, v in compose()["services"]["backend"]["environment"].items() if "${" not in v}
    settings = load_settings(env=env)
    assert settings.mode == "paper" and settings.db_url.startswith("postgresql://")


def test_unit_file_keys() -> None:
    service = service_section()
    expected = {"Type": "notify", "ExecStart": "/opt/quantum-trader/.venv/bin/quantum-trader run",
                "EnvironmentFile": "/etc/quantum-trader/env", "Restart": "on-failure", "RestartSec": "5",
                "WatchdogSec": "30", "TimeoutStopSec": "30", "NoNewPrivileges": "yes",
                "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/quantum-trader", "PrivateTmp": "yes",
                "StateDirectory": "quantum-trader"}
    assert {key: service.get(key) for key in expected} == expected
    assert service.get("User") not in (None, "", "root")


def test_unit_file_passes_systemd_analyze(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # The real ExecStart does not exist on a build machine; verify everything else.
    text = UNIT.read_text().replace("/opt/quantum-trader/.venv/bin/quantum-trader run", "/bin/true")
    unit = tmp_path / "quantum-trader.service"
    unit.write_text(text)
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_dockerfile() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:3.11-slim")
    assert any(line.startswith("HEALTHCHECK") and "/health" in line and "urllib" in line for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] != "root"
    assert "EXPOSE 8000" in instructions
    assert any('".[postgres]"' in line and "pip install" in line for line in instructions)
    assert not any("[dev" in line for line in instructions)
    assert instructions[-1] == 'CMD ["quantum-trader", "run", "--host", "0.0.0.0"]'


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".venv", "data", "tests", ".mypy_cache", ".pytest_cache", ".ruff_cache"} <= ignored
    assert "src" not in ignored and "pyproject.toml" not in ignored and "README.md" not in ignored
