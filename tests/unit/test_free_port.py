"""The test fixtures' ports: never handed twice, never where outgoing connections land.

A worker in the cluster layer once died on `Address already in use` at its health
port: the port came from the kernel's ephemeral range and something took it before
the worker bound it.
"""

from __future__ import annotations

import subprocess
import sys

from coldchain_devstack.servers import _ephemeral_range, free_port

DRAW = "from coldchain_devstack.servers import free_port; print(*(free_port() for _ in range(150)))"


def test_ports_come_from_outside_the_ephemeral_range() -> None:
    ephemeral = _ephemeral_range()
    ports = [free_port() for _ in range(150)]
    assert not [port for port in ports if port in ephemeral]
    assert len(set(ports)) == len(ports)


def test_processes_drawing_side_by_side_never_get_the_same_port() -> None:
    draws = [
        subprocess.Popen([sys.executable, "-c", DRAW], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    ports = [int(port) for draw in draws for port in draw.communicate(timeout=60)[0].split()]
    assert all(draw.returncode == 0 for draw in draws)
    assert len(ports) == 600
    assert len(set(ports)) == len(ports)
