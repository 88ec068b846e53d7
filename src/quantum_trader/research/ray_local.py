"""Starting the local Ray of a `sweep` without `--address`: every Ray server on loopback, nothing reported.

A sweep on one machine needs no port open to the network. Ray 2.60 opens them by itself on Linux, and its
own options do not stop it (read in its source, ray/_private/):
- `ray.init(_node_ip_address="127.0.0.1")` (worker.py) and `ray start --node-ip-address=127.0.0.1`
  (scripts/scripts.py) pass the address through `services.resolve_ip_for_localhost`, which replaces
  loopback with `services.get_node_ip_address()`: the address of the interface that routes outward
  (`node_ip_address_from_perspective`; 192.0.2.2 on the machine measured), as is the default node address.
- Each server binds by the node address: the gRPC servers of the GCS, the raylet (node manager and object
  manager) and every core worker, the driver's included, bind all interfaces (`::`) unless it is loopback
  (Ray's C++, e.g. src/ray/gcs/gcs_server.cc and core_worker.cc: listen to localhost only when
  `node_ip_address == "127.0.0.1"`; the wheel has only the binaries, so for 2.60 it is measured); the
  runtime-env agent binds the node address itself (runtime_env/agent/main.py: `getaddrinfo(args.
  node_ip_address)`); the autoscaler monitor's metrics server binds 0.0.0.0 unless the head's address is
  loopback (autoscaler/_private/monitor.py).
- `get_node_ip_address` answers loopback only when `ray_constants.ENABLE_RAY_CLUSTER` is false: Ray's
  one-machine mode, its default on macOS and Windows (ray-project/ray#18904, against firewall pop-ups), and on
  Linux with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0. Then the node address is 127.0.0.1 and every server above
  binds 127.0.0.1 (measured with two workers: 8 listening sockets, all on loopback; before, all 8 on `::`,
  0.0.0.0 or 192.0.2.2).

Ray reads that variable once, when `ray` is first imported, and its child processes read it when they start:
it is set while the node starts (the children inherit it), and the constant it sets is held false in this
process for that time, whenever `ray` was imported. The dashboard is not started (`include_dashboard=False`:
its head process then serves no HTTP) and usage statistics are off (RAY_USAGE_STATS_ENABLED=0; `ray.init`
turns them off itself on release wheels, not on nightly ones, whose dashboard would post them to
usage-stats.ray.io). A node that still took another address is shut down and refused, never used.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Ray's one-machine mode (its node address, hence every bind, is loopback) and no usage report.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def start_local(ray: Any, cpus: int, options: dict[str, Any], environment: dict[str, str]) -> None:
    """`ray.init` of a one-machine node whose servers listen on loopback only, its processes started with
    `environment` too; RuntimeError (and no Ray left running) if the node took another address."""
    with environment_while_starting({**environment, **LOOPBACK_ONLY}), _one_machine_mode():
        ray.init(num_cpus=cpus, **options)
    address = ray.util.get_node_ip_address()
    if not is_loopback(address):
        ray.shutdown()
        raise RuntimeError(f"the local Ray took the node address {address}, not loopback, and its servers would "
                           "listen on the network; this Ray version does not honour "
                           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: give --address of a cluster started apart")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8 or ::1 (an IPv4-mapped ::ffff:127.0.0.1 included); False for a name or anything else."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


@contextmanager
def environment_while_starting(values: dict[str, str]) -> Iterator[None]:
    """These environment variables while Ray starts its local node, whose processes (and the workers its
    raylet starts later) inherit them. A runtime environment would do the same through Ray's agent, which cost
    each worker about 0.4 s more to start (warm-up 1.1-1.35 s against 0.4-0.5 s for two workers). The
    driver's own environment is restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _one_machine_mode() -> Iterator[None]:
    """`ray_constants.ENABLE_RAY_CLUSTER` false while the node starts, as RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
    would have made it had it been set when `ray` was imported (`services.get_node_ip_address` reads the
    constant at each call). Restored afterwards, so that a later `--address` pool in the same process is not
    held to loopback. Without the constant (another Ray version) nothing is changed here, and the address
    check after `ray.init` decides."""
    constants = sys.modules.get("ray._private.ray_constants")
    saved = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if saved is None:
        yield
        return
    constants.ENABLE_RAY_CLUSTER = False  # type: ignore[union-attr]
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved  # type: ignore[union-attr]
