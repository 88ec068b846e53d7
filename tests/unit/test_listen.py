"""The API's sockets are bound before anything starts (core/listen.py): a busy, forbidden or foreign address is
one `ConfigError` line naming the option, the address and the fix."""

from __future__ import annotations

import socket

import pytest

from quantum_trader.core.listen import ListenOptions, bind_listeners
from quantum_trader.domain.errors import ConfigError

NAMES = ListenOptions(port="--port / QT_API_PORT", host="--host / QT_API_HOST")


def test_a_free_port_is_bound_and_listening() -> None:
    [sock] = bind_listeners("127.0.0.1", 0, NAMES)
    with sock, socket.create_connection(sock.getsockname(), timeout=5):
        pass  # the kernel accepted it: listening already, before any server serves it


def test_a_busy_port_names_the_option_the_address_and_the_fix() -> None:
    [first] = bind_listeners("127.0.0.1", 0, NAMES)
    with first:
        port = first.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            bind_listeners("127.0.0.1", port, NAMES)
    assert str(info.value) == (f"--port / QT_API_PORT {port}: 127.0.0.1:{port} is already in use (another bot, "
                               "sim-server or program listens there); stop it, or choose a free port with "
                               "--port / QT_API_PORT (0 picks one)")


def test_an_address_this_machine_does_not_have_names_the_host_option() -> None:
    with pytest.raises(ConfigError) as info:
        bind_listeners("192.0.2.1", 0, NAMES)  # TEST-NET-1: never assigned to a host
    assert str(info.value).startswith("--host / QT_API_HOST 192.0.2.1: this machine has no such address")


def test_a_name_that_resolves_to_several_addresses_gets_one_port_on_each() -> None:
    sockets = bind_listeners("localhost", 0, NAMES)
    try:
        assert len({sock.getsockname()[1] for sock in sockets}) == 1
    finally:
        for sock in sockets:
            sock.close()
