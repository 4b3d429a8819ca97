"""Opening a file a child process left behind, without letting it hang or flood the reader.

A child (a user's script) may leave anything under a file's expected name: a
FIFO, whose open() never returns; a link to ``/dev/zero``, whose read never
ends; a device or a folder. Everything the runner, the report and a rebuild
read from an attempt folder comes through :func:`read_child_file`.
"""

from __future__ import annotations

import errno
import os
import stat

from hyperparameter_system.errors import HpsysError


class ChildFileError(HpsysError):
    """A child's result.json or metrics.jsonl breaks the contract; the text names the file and the fault."""


def read_child_file(path: str | os.PathLike[str], limit: int, *, start: int = 0,
                    tail: bool = False) -> bytes | None:
    """At most ``limit`` bytes of a file a child left (from ``start``, or its last ones with ``tail``).

    None when there is no file. A child may leave anything under a file's name:
    a FIFO (an open() that never returns), a link to ``/dev/zero`` (a read that
    never ends) or a device, so the file is opened without following a link and
    without blocking, and only a regular file is read.

    Raises:
        ChildFileError: naming the path: not a regular file, or unreadable.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ChildFileError(f"{path}: a symbolic link, not a regular file") from None
        raise ChildFileError(f"{path}: cannot read: {error.strerror or error}") from None
    with os.fdopen(fd, "rb") as handle:
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ChildFileError(f"{path}: not a regular file ({_file_kind(mode)})")
            if tail:
                start = max(0, handle.seek(0, os.SEEK_END) - limit)
            handle.seek(start)
            return handle.read(limit)
        except OSError as error:
            raise ChildFileError(f"{path}: cannot read: {error.strerror or error}") from None


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a plain file")
