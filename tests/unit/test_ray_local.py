"""The local Ray's start refuses a node that did not take a loopback address (a Ray that no longer honours
one-machine mode), and says which addresses count as loopback. The real start is tested in
tests/integration/test_sweep_loopback.py; here Ray is a stand-in that answers a chosen node address."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from quantum_trader.research.ray_local import LOOPBACK_ONLY, is_loopback, start_local


class StandInRay:
    def __init__(self, node_address: str) -> None:
        self.calls: list[str] = []
        self.seen_environment: dict[str, str | None] = {}
        self.util = SimpleNamespace(get_node_ip_address=lambda: node_address)

    def init(self, **options: Any) -> None:
        self.calls.append(f"init {sorted(options.items())}")
        self.seen_environment = {name: os.environ.get(name) for name in (*LOOPBACK_ONLY, "OMP_NUM_THREADS")}

    def shutdown(self) -> None:
        self.calls.append("shutdown")


def test_a_node_on_the_machines_address_is_shut_down_and_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LOOPBACK_ONLY:
        monkeypatch.delenv(name, raising=False)
    ray = StandInRay("192.0.2.2")
    with pytest.raises(RuntimeError, match=r"took the node address 192\.0\.2\.2, not loopback"):
        start_local(ray, 2, {"log_to_driver": False}, {"OMP_NUM_THREADS": "1"})
    assert ray.calls == ["init [('log_to_driver', False), ('num_cpus', 2)]", "shutdown"]
    assert ray.seen_environment == {**LOOPBACK_ONLY, "OMP_NUM_THREADS": "1"}  # what Ray's processes inherit
    assert not set(LOOPBACK_ONLY) & set(os.environ)  # the driver's own environment is restored


def test_a_loopback_node_is_kept() -> None:
    ray = StandInRay("127.0.0.1")
    start_local(ray, 1, {}, {})
    assert ray.calls == ["init [('num_cpus', 1)]"]


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                                ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False),
                                                ("192.0.2.2", False), ("::ffff:192.0.2.2", False),
                                                ("localhost", False)])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
