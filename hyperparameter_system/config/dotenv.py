"""W&B settings from a ``.env`` file next to the experiment file.

Training repositories often keep ``WANDB_API_KEY``, ``WANDB_ENTITY`` and
friends in a ``.env`` file rather than in the shell. hpsys reads the one beside
the experiment file and adds its ``WANDB_*`` variables to its own process
environment, where the real environment wins over the file. The values then
reach the children by inheritance only: nothing here writes them anywhere, and
the runner's records keep no variable whose name looks like a secret.

Only ``WANDB_*`` names are taken: other keys in the file belong to the user's
own tools (a data path, a Hugging Face token for another script), and hpsys
has no business exporting them into every child.

Format (a subset of what docker compose and python-dotenv accept)::

    # a comment
    WANDB_ENTITY=my-team
    export WANDB_API_KEY="abc123"   # a comment after a value
    WANDB_BASE_URL='http://127.0.0.1:8080'

Anything else (no ``=``, a name that is not a variable name, an unterminated
quote, text after a closing quote) is one ``path:line: reason`` error.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import MutableMapping

from hyperparameter_system.errors import ConfigError

DOTENV_FILE = ".env"
MAX_BYTES = 1024 * 1024  # settings, not data: a bigger file is a mistake
PREFIX = "WANDB_"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def dotenv_path(config: str | os.PathLike[str]) -> Path:
    """The ``.env`` file that belongs to the experiment file ``config``."""
    return Path(config).parent / DOTENV_FILE


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Every ``KEY=value`` of ``path`` (a later line wins over an earlier one).

    Raises:
        ConfigError: A line that is not a comment, a blank or an assignment,
            or a file that cannot be read as text.
    """
    where = str(path)
    try:
        text = _read_capped(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(where, 0, "", "not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(where, 0, "", f"cannot read: {error.strerror or error}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        pair = _parse_line(line, where, number)
        if pair is not None:
            values[pair[0]] = pair[1]
    return values


def _read_capped(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES.

    A ``.env`` may be a link (to a shared one, say), but what it names must be a
    plain file: a FIFO would block every command forever and ``/dev/zero`` would
    fill the memory. Opened without blocking, checked, then read with a cap.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_BYTES // 2**20} MiB")
    return data


def apply_dotenv(config: str | os.PathLike[str],
                 environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Add the ``WANDB_*`` variables of ``config``'s ``.env`` that ``environ`` lacks.

    Returns:
        The names added (none when there is no ``.env`` file).
    """
    environ = os.environ if environ is None else environ
    path = dotenv_path(config)
    if not path.exists():
        return []
    values = read_dotenv(path)
    added = [name for name in values if name.startswith(PREFIX) and name not in environ]
    for name in added:
        environ[name] = values[name]
    return added


def _parse_line(line: str, path: str, number: int) -> tuple[str, str] | None:
    """``(name, value)`` of one line, None for a blank or a comment."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith("export ") or stripped.startswith("export\t"):
        stripped = stripped[len("export"):].lstrip()
    name, equals, raw = stripped.partition("=")
    name = name.strip()
    if not equals:
        raise ConfigError(path, number, "", "expected KEY=value (no '=' on this line)")
    if not _NAME.match(name):
        # A name with a space in it may be a value typed without its `=`: shown, it could leak a secret.
        shown = "the text before '='" if any(c.isspace() for c in name) else _shown(name)
        raise ConfigError(path, number, "", f"{shown} is not a variable name (letters, digits, _)")
    value = _value(raw.strip(), path, number, name)
    if "\0" in value:
        raise ConfigError(path, number, name, "a value may not hold a NUL character")
    return name, value


def _value(raw: str, path: str, number: int, name: str) -> str:
    """The value as written: quoted (single: literal, double: with escapes) or bare."""
    if not raw or raw[0] not in "\"'":
        return re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()  # `KEY=value # comment`
    quote = raw[0]
    out: list[str] = []
    i = 1
    while i < len(raw):
        char = raw[i]
        if char == quote:
            rest = raw[i + 1:].strip()
            if rest and not rest.startswith("#"):
                raise ConfigError(path, number, name, "text after the closing quote")
            return "".join(out)
        if char == "\\" and quote == '"' and i + 1 < len(raw) and raw[i + 1] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    raise ConfigError(path, number, name, f"unterminated {quote} quote (values are one line)")


def _shown(text: str, limit: int = 40) -> str:
    """A name for a message, cut short; values are never shown (they may be secrets)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
