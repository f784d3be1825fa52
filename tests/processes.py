"""Helpers for tests that start real processes (servers, workers) on this machine."""

import socket
import time


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, seconds: float, what: str) -> None:
    """Poll `predicate` until it holds; fail after `seconds`. For waiting on another process
    (a server starting, a worker finishing), never for controlling time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
