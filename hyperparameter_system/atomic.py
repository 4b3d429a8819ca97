"""Atomic file writes: a reader sees the old file or the whole new one, never half.

One writer serves rendered configs, result.json and reports, so they all get
the same guarantees and the same permissions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# mkstemp creates 0600 files; results and configs are meant to be shared with
# colleagues on the same machine, like any file a tool writes.
FILE_MODE = 0o644


def write_text_atomic(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and ``os.replace``.

    Args:
        path: The target; missing parent folders are created.
        text: The whole content.
        durable: fsync before the rename, so a power cut cannot leave an empty
            file behind. Files that are rebuilt on every run may skip it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
