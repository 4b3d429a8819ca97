"""What can go wrong with the store file itself, said in one line.

SQLite and the operating system describe a full disk, a read-only file, a
garbage file or a vanished one in their own words and as tracebacks; the
runner and every command want one line that names the store's path and the
cause, and exit code 2. :func:`translated` does the translation once for every
store operation, and :class:`FileIdentity` notices a store that was deleted or
replaced behind an open connection (SQLite keeps writing into the unlinked
file through its open descriptor, so nothing else would notice).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hyperparameter_system.errors import HpsysError

REBUILD_HINT = "`hpsys --rebuild-store` keeps it aside and rebuilds the store from the attempt folders"


class StoreError(HpsysError):
    """The results store cannot be used: damaged, full, read-only, gone."""


def describe(path: Path, error: BaseException) -> str:
    """One line naming ``path`` and the cause of a SQLite or OS error."""
    text = str(error.strerror if isinstance(error, OSError) and error.strerror else error)
    lowered = text.lower()
    full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    if full or "disk is full" in lowered or "no space left" in lowered:
        return f"{path}: disk full, the store cannot grow ({text})"
    if "readonly" in lowered or "read-only" in lowered or (isinstance(error, OSError)
                                                           and error.errno in (errno.EROFS, errno.EACCES)):
        return f"{path}: the store is read-only ({text})"
    if "not a database" in lowered or "malformed" in lowered or "no such table" in lowered:
        return f"{path}: not a readable results store ({text}); {REBUILD_HINT}"
    if "unable to open" in lowered:
        return f"{path}: cannot open the store ({text}; is the folder writable?)"
    return f"{path}: store error ({text})"


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """Turn SQLite and OS errors raised inside into one :class:`StoreError` line.

    Integrity errors stay SQLite's own: they mean a caller's bug, not a bad file.
    """
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except (sqlite3.Error, OSError) as error:
        raise StoreError(describe(path, error)) from error


SQLITE_HEADER = b"SQLite format 3\x00"


def check_header(path: Path) -> None:
    """Refuse an existing file that is not SQLite before SQLite opens it.

    SQLite itself may read a foreign file through a ``-wal`` file left beside it
    by the store it replaced, and serve that old store's pages as if nothing happened.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    if head and head != SQLITE_HEADER:
        raise StoreError(describe(path, sqlite3.DatabaseError("file is not a database")))


def check_writable(path: Path) -> None:
    """Refuse an existing store that may not be written before SQLite writes its -wal/-shm beside it."""
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        cause = "read-only file system" if os.statvfs(path).f_flag & os.ST_RDONLY else "no write permission"
        raise StoreError(f"{path}: the store is read-only ({cause})")


@dataclass(frozen=True)
class FileIdentity:
    """The (device, inode) of the store file when it was opened."""

    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        stat = os.stat(path)
        return cls(stat.st_dev, stat.st_ino)

    @classmethod
    def of_side_files(cls, path: Path) -> dict[Path, FileIdentity]:
        """The store's ``-wal`` and ``-shm`` as they are now (those that exist)."""
        found = {}
        for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(OSError):
                found[side] = cls.of(side)
        return found

    def check(self, path: Path) -> None:
        """Raise :class:`StoreError` when ``path`` is gone or is another file now."""
        try:
            now = FileIdentity.of(path)
        except FileNotFoundError:
            raise StoreError(f"{path}: the results store vanished during the run (deleted or moved);"
                             " running cells were stopped; `hpsys --rebuild-store` rebuilds it from the"
                             " attempt folders") from None
        except OSError as error:
            raise StoreError(describe(path, error)) from None
        if now != self:
            raise StoreError(f"{path}: the results store was replaced by another file during the run;"
                             " running cells were stopped and that file was left as it is; move it away,"
                             " then `hpsys --rebuild-store` rebuilds this run's store from the attempt folders")
