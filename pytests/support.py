"""Helpers that test modules import by name (`from support import free_port`).

Importing from `conftest` is ambiguous once several folders have one; this module's name is unique.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
