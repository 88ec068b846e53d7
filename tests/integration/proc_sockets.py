"""The TCP and UDP sockets a process and its descendants hold, read from /proc (psutil is no dependency).

A socket is found by its inode: /proc/<pid>/fd links name `socket:[inode]`, and /proc/net/{tcp,tcp6,udp,udp6}
(this network namespace's tables) give each inode's local and remote address and state. A process tree is
sampled while it runs, so that sockets a process opens and closes between two samples may be missed; the
tests that use this assert that the sockets they expect were seen.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from quantum_trader.research.ray_local import is_loopback

_TABLES = (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6), ("udp", socket.AF_INET), ("udp6", socket.AF_INET6))
_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Socket:
    process: str
    protocol: str
    local: tuple[str, int]
    remote: tuple[str, int]
    listening: bool

    def off_loopback(self) -> bool:
        """True when the socket can be reached from, or talks to, an address other than loopback: a listener
        or bound socket on a non-loopback or wildcard address, or a connection to a non-loopback peer."""
        local_host, local_port = self.local
        remote_host, remote_port = self.remote
        if (self.listening or local_port) and not is_loopback(local_host):
            return True
        return bool(remote_port) and not is_loopback(remote_host)

    def __str__(self) -> str:
        kind = "LISTEN" if self.listening else self.protocol
        peer = "" if self.listening else f" -> {self.remote[0]}:{self.remote[1]}"
        return f"{kind} {self.local[0]}:{self.local[1]}{peer} ({self.process})"


def process_tree(root: int) -> list[int]:
    """`root` and every process whose chain of parents leads to it, as /proc shows them now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def process_name(pid: int) -> str:
    """What a person would call it: `gcs_server`, `raylet`, `ray::IDLE`, or a Python process's script."""
    try:
        args = [a for a in Path(f"/proc/{pid}/cmdline").read_text().split("\0") if a]
    except OSError:
        return f"pid {pid}"
    if not args:
        return f"pid {pid}"
    if args[0].startswith("ray::"):
        return args[0].strip()
    scripts = [a for a in args[1:] if not a.startswith("-")]  # `python -u .../monitor.py ...`: the script
    name = os.path.basename(scripts[0] if "python" in os.path.basename(args[0]) and scripts else args[0])
    return f"{name} (pid {pid})"


def sockets_of(pids: list[int]) -> list[Socket]:
    """The internet sockets these processes hold now."""
    table = _read_tables()
    found = []
    for pid in pids:
        name = None
        for inode in _socket_inodes(pid):
            row = table.get(inode)
            if row is not None:
                name = name or process_name(pid)
                protocol, local, remote, state = row
                found.append(Socket(name, protocol, local, remote, protocol.startswith("tcp") and state == _TCP_LISTEN))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _read_tables() -> dict[int, tuple[str, tuple[str, int], tuple[str, int], str]]:
    rows = {}
    for name, family in _TABLES:
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            rows[int(fields[9])] = (name, _address(fields[1], family), _address(fields[2], family), fields[3])
    return rows


def _address(text: str, family: int) -> tuple[str, int]:
    """/proc/net's `0100007F:1F90`: the address as 32-bit words in host (little-endian) order, then the port."""
    hex_host, hex_port = text.split(":")
    raw = bytes.fromhex(hex_host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, words), int(hex_port, 16)
