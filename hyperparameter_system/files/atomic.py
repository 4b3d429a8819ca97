"""Atomic file writes: a reader sees the old file or the whole new one, never half.

One writer serves rendered configs, result.json and reports, so they all get
the same guarantees and the same permissions.
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

# Results and configs are meant to be shared with colleagues on the same machine, like any
# file a tool writes: this mode whatever the umask.
FILE_MODE = 0o644
# Temporary names: its own generator (a training script seeding ``random`` must not make them
# repeat); a name another process drew meanwhile is skipped by O_EXCL.
_NAMES = random.Random()


def write_text_atomic(path: str | os.PathLike[str], text: str, *, durable: bool = True,
                      make_parent: bool = True) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and ``os.replace``.

    Args:
        path: The target.
        text: The whole content.
        durable: fsync before the rename, so a power cut cannot leave an empty
            file behind. Files that are rebuilt on every run may skip it.
        make_parent: Create missing parent folders (a caller writing many
            files into folders it made already skips that call per file).
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    if make_parent:
        Path(folder or ".").mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(folder, name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open_temp(folder: str, name: str) -> tuple[int, str]:
    """A new file ``.<name>.<8 hex digits>`` in ``folder``, opened for writing with :data:`FILE_MODE`.

    What ``tempfile.mkstemp`` does (``O_EXCL``: never someone else's file),
    without its name generator's cost; the mode is set on the descriptor, so
    the umask cannot narrow it.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{_NAMES.getrandbits(32):08x}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, FILE_MODE)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return fd, tmp
    raise FileExistsError(f"no free temporary name beside {os.path.join(folder, name)}")


# What write_text_atomic's temporary names look like: "." + target name + "." + 8 characters.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}$")
# A younger temporary file may be another runner's write in progress: leave it.
STALE_TEMP_S = 30.0


def remove_stale_temps(folder: str | os.PathLike[str], *, depth: int = 0,
                       older_than_s: float = STALE_TEMP_S) -> int:
    """Delete temporary files an interrupted :func:`write_text_atomic` left behind.

    A kill between creating the temporary file and ``os.replace`` leaves ``.name.yaml.XXXXXXXX``
    beside the target; a new run calls this on the folders it writes into.

    Args:
        folder: Where to look; a missing folder has nothing to remove.
        depth: How many folder levels below ``folder`` to search too (W&B's
            own ``wandb`` folders are never entered).
        older_than_s: Only files not modified for this long are removed.

    Returns:
        How many files were removed.
    """
    removed = 0
    cutoff = time.time() - older_than_s
    top = Path(folder)
    for current, dirs, files in os.walk(top):
        level = len(Path(current).relative_to(top).parts)
        dirs[:] = [] if level >= depth else [d for d in dirs if d != "wandb"]
        for name in files:
            path = Path(current) / name
            try:
                if _TEMP_NAME.match(name) and path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:  # gone meanwhile, or not ours to remove
                continue
    return removed
