"""Opening a file a child process left behind, without letting it hang or flood the reader.

A child (a user's script) may leave anything under a file's expected name: a
FIFO, whose open() never returns; a link to ``/dev/zero``, whose read never
ends; a device or a folder. Everything the runner, the report and a rebuild
read from an attempt folder comes through :func:`read_child_file`, and every
value read from a child's JSON through the small checks at the end (``number``,
``count``, ``text``, ...), which say briefly what a wrong value was.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from typing import Any, Callable

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


# Checks of single values read from a child's JSON: each returns the clean value or raises
# ValueError saying what the value was.
MAX_TEXT_CHARS = 2000  # error texts and names are cut here
MAX_INT = 2**53  # counts beyond this are junk (and overflow SQLite's INTEGER)


def short_error(error: Exception) -> str:
    return str(error)[:200]


def json_value(raw: bytes) -> Any:
    """The JSON value in a child's bytes, or ValueError saying briefly why there is none."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 (byte {error.start})") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError, or an int of over 4300 digits
        raise ValueError(f"not valid JSON ({short_error(error)})") from None


def kind(value: Any) -> str:
    """``a list``, ``a str ('oops')``: what a wrong value was, briefly."""
    name = {dict: "an object", list: "a list", str: "a str", bool: "a bool", int: "an int", float: "a float",
            type(None): "null"}.get(
        type(value), f"a {type(value).__name__}")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"{name} ({repr(value)[:40]})"
    return name


def is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, float) or abs(value) <= MAX_INT


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def number(value: Any) -> float | None:
    """A finite float; NaN and infinities read as "no value"."""
    if not is_number(value):
        raise ValueError(f"expected a number, got {kind(value)}")
    out = float(value)
    return out if math.isfinite(out) else None


def count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ValueError(f"expected a whole number from 0 to {MAX_INT}, got {kind(value)}")
    return value


def text(value: Any) -> str:
    """A str, cut to :data:`MAX_TEXT_CHARS` and made encodable (no lone surrogates)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a str, got {kind(value)}")
    return value[:MAX_TEXT_CHARS].encode("utf-8", "replace").decode("utf-8")


def metrics_map(value: Any) -> dict[str, float | None]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of metric values, got {kind(value)}")
    clean: dict[str, float | None] = {}
    for key, item in value.items():
        if item is not None and not is_number(item):
            raise ValueError(f"{text(key)}: expected a number, got {kind(item)}")
        clean[text(key)] = None if item is None else number(item)
    return clean
