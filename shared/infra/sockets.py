"""Listening sockets for the servers of this project (simulator, Slack app, MCP server)."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["LOOPBACK_NAMES", "bind_socket", "is_loopback"]

#: host names that always mean this machine
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name, without port; IPv6 may be bracketed) is this
    machine only: ``localhost``, 127.0.0.0/8 or ``::1``."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn to listen on (port 0 picks a free port).

    Binding here rather than in uvicorn turns a taken port into an ``OSError`` instead of
    uvicorn's ``sys.exit``. ``TCP_NODELAY`` is set because connections accepted on a socket
    handed to uvicorn inherit its options: without it, Nagle's algorithm and delayed ACKs
    add about 40 ms to every keep-alive request (measured on the simulator).

    Raises:
        OSError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
