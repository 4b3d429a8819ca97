"""Finding the processes a test's runs left behind, through /proc, with a deadline."""

from __future__ import annotations

import time
from pathlib import Path


def processes_of(root: Path) -> list[int]:
    """Live (non-zombie) pids whose environment ties them to an attempt under ``root``."""
    needle = f"HPS_OUTPUT_DIR={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(var.startswith(needle) for var in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def wait_none_left(root: Path, timeout_s: float) -> float:
    """Seconds until no process of ``root`` is left; fails after ``timeout_s``."""
    start = time.monotonic()
    while processes_of(root):
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"processes still alive after {timeout_s}s: {processes_of(root)}")
        time.sleep(0.1)
    return time.monotonic() - start
