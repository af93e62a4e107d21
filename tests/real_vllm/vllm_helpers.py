"""Helpers of the real-vLLM tests: this process's RSS, a free port."""

from __future__ import annotations

import socket
from pathlib import Path


def rss_mib() -> float:
    """Resident memory of this process (``VmRSS`` of /proc/self/status), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
