"""Saying "No space left on device" when a child died of a full disk.

A child whose disk is full often cannot say so: its own log lives on that
disk, so its traceback is lost and the attempt's error text would be empty.
The runner can still look at the file system afterwards, and names the cause.
"""

from __future__ import annotations

import os
from pathlib import Path

NO_SPACE = "No space left on device"
# Below this the disk counts as full: a child writing checkpoints or logs would fail.
FULL_BELOW_BYTES = 1 << 20


def free_bytes(folder: str | os.PathLike[str]) -> int | None:
    """Bytes an unprivileged writer may still use where ``folder`` lives; None if unknown."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stat = os.statvfs(probe)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def with_disk_full(error_tail: str | None, folder: str | os.PathLike[str]) -> str | None:
    """``error_tail`` headed by a disk-full line when ``folder``'s disk is (nearly) full."""
    if error_tail and NO_SPACE in error_tail:
        return error_tail
    free = free_bytes(folder)
    if free is None or free >= FULL_BELOW_BYTES:
        return error_tail
    line = f"{NO_SPACE}: {folder} ({free} bytes free)"
    return f"{line}\n{error_tail}" if error_tail else line
