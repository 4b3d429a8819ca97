"""Safe names: what a user writes becomes a file name, a run name or a W&B project.

Model names, option values and labels reach the file system (rendered config
paths, output dirs) and W&B. Whatever the user writes (``../../x``,
``; rm -rf ~``, ``$(id)``, 300 characters, emoji), the result here is a
single path component of ``[A-Za-z0-9._-]``, never starting with a dot,
bounded in length, and deterministic, so a rerun finds the same files.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from typing import Any, Iterable

__all__ = ["MAX_NAME_LENGTH", "format_number", "model_safe", "safe_name", "unique_names"]

MAX_NAME_LENGTH = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PROJECT_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_HASH_LEN = 8


def safe_name(text: Any, max_length: int = MAX_NAME_LENGTH, *, allow_dot: bool = True) -> str:
    """Turn any text into one safe path component.

    Unicode is folded to ASCII where it has an ASCII form (``é`` -> ``e``);
    every other run of unsafe characters becomes one ``_``. A name cut to
    ``max_length`` ends in a short hash of the full text, so two long names
    that differ only at the end stay different.

    Args:
        text: Anything; ``str()`` is taken.
        max_length: Upper bound of the result's length (>= 16).
        allow_dot: Keep ``.`` (file names) or replace it too (W&B projects).
    """
    raw = str(text)
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    pattern = _UNSAFE if allow_dot else _PROJECT_UNSAFE
    cleaned = pattern.sub("_", folded)
    cleaned = re.sub(r"\.{2,}", "_", cleaned).strip("._-") or "_"
    if len(cleaned) > max_length or (cleaned == "_" and raw != "_"):
        # Cut names (and names with nothing readable left) end in a hash of the
        # original, so different inputs stay different.
        return _truncate(cleaned, raw, max_length)
    return cleaned


def _truncate(cleaned: str, raw: str, max_length: int) -> str:
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    head = cleaned[: max(1, max_length - _HASH_LEN - 1)].rstrip("._-") or "x"
    return f"{head}-{digest}"


def model_safe(name: str) -> str:
    """A model name as a W&B project: ``resnet50.tv2_in1k`` -> ``resnet50_tv2_in1k``."""
    return safe_name(name, allow_dot=False)


def unique_names(names: Iterable[str]) -> list[str]:
    """Resolve collisions deterministically: the 2nd ``x`` becomes ``x-2``, the 3rd ``x-3``.

    Order decides who keeps the plain name, so callers pass names in the
    matrix's sorted order. A suffix that itself collides is skipped.
    """
    names = list(names)
    taken = set()
    seen: dict[str, int] = {}
    result = []
    for name in names:
        candidate = name
        count = seen.get(name, 1)
        while candidate in taken:
            count += 1
            candidate = f"{name}-{count}"
        seen[name] = count
        taken.add(candidate)
        result.append(candidate)
    return result


def format_number(value: Any) -> str:
    """Numbers in labels: ``0.001`` -> ``0.001``, ``1e-05`` -> ``1e-05``, ``2.0`` -> ``2``.

    Short and stable (``%g``, six significant digits); booleans and text pass through ``str``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:g}"
