"""The index of an ImageFolder tree (its classes and image files), listed once and reused by every cell.

Listing a large image tree (a million files, a network disk) takes as long as
a short cell trains, and every cell of a matrix lists the same tree. The
index is kept in a small JSON file per folder under the user's cache
(``HPSYS_CACHE_DIR``, else ``$XDG_CACHE_HOME/hpsys``, else ``~/.cache/hpsys``),
written atomically. It records the modification time of every folder it
walked: adding, removing or renaming a file or a folder anywhere in the tree
changes one of them, so a stale index is noticed with one ``stat`` per folder
and listed again. The file is untrusted: anything unreadable, of another
shape, of another tree or naming a path outside it is listed again, never
used. A folder changed within the last seconds is not cached at all, since a
change in the same clock tick would not move its time.

The order and filtering are torchvision's ``ImageFolder`` (sorted classes,
sorted walk, its image extensions), so a cached and a listed index give the
same samples and therefore the same training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hyperparameter_system.files.atomic import write_text_atomic
from hyperparameter_system.files.child_files import ChildFileError, read_child_file

ENV_CACHE_DIR = "HPSYS_CACHE_DIR"
FORMAT = 1
RACY_S = 2.0  # a folder younger than this may still change within its mtime tick: not cached

# The cache is a file on disk, so untrusted: only a regular file is read, and at most this much
# (an index of about two million images); a longer file is cut, fails to parse and is listed again.
MAX_CACHE_BYTES = 128 * 1024 * 1024

log = logging.getLogger("hyperparameter_system.train")


@dataclass(frozen=True)
class FolderIndex:
    """One split folder's classes (label order) and ``(path, label)`` samples."""

    classes: list[str]
    samples: list[tuple[str, int]]


def cache_dir() -> Path:
    """Where folder indexes are kept."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hpsys"


def cache_file(root: Path) -> Path:
    """The index file of one folder (named by a hash of its resolved path)."""
    return cache_dir() / "imagefolder" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.json"


def folder_index(directory: str | os.PathLike[str]) -> FolderIndex:
    """The index of ``directory`` (``class/[sub/]image`` files): from the cache when still true, else listed."""
    root = Path(directory).resolve()
    cached = _read(root)
    if cached is not None:
        return cached
    index, folders = _scan(root)
    _write(root, index, folders)
    return index


def _scan(root: Path) -> tuple[FolderIndex, dict[str, int]]:
    """List the tree as ``ImageFolder`` does; also every folder walked with its mtime (ns)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes

    classes, class_to_idx = find_classes(str(root))
    folders = {".": root.stat().st_mtime_ns}
    samples: list[tuple[str, int]] = []
    for name in sorted(class_to_idx):
        for current, _, files in sorted(os.walk(root / name, followlinks=True)):
            folders[os.path.relpath(current, root)] = os.stat(current).st_mtime_ns
            for file in sorted(files):
                if file.lower().endswith(IMG_EXTENSIONS):
                    samples.append((os.path.join(current, file), class_to_idx[name]))
    if not samples:
        raise FileNotFoundError(f"Found no valid file for the classes {', '.join(classes)} in {root}")
    return FolderIndex(list(classes), samples), folders


def _write(root: Path, index: FolderIndex, folders: dict[str, int]) -> None:
    """Keep the index unless a folder is too young to vouch for; a cache that cannot be written is skipped."""
    if max(folders.values()) > time.time_ns() - int(RACY_S * 1e9):
        return
    payload = {"format": FORMAT, "root": str(root), "folders": folders, "classes": index.classes,
               "samples": [[os.path.relpath(path, root), label] for path, label in index.samples]}
    try:
        write_text_atomic(cache_file(root), json.dumps(payload), durable=False)
    except OSError as exc:
        log.info("image folder index not cached (%s): %s", cache_file(root), exc)


def _read(root: Path) -> FolderIndex | None:
    """The cached index when it is whole, of this tree, inside it and no folder changed since; else None."""
    try:
        raw = read_child_file(cache_file(root), MAX_CACHE_BYTES)
        payload = json.loads(raw) if raw is not None else None
        index = _parse(root, payload) if isinstance(payload, dict) else None
    except (ChildFileError, OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if index is None or not _unchanged(root, payload["folders"]):
        return None
    return index


def _parse(root: Path, payload: Any) -> FolderIndex | None:
    """The index a payload holds, checked field by field; None when anything is off."""
    if payload.get("format") != FORMAT or payload.get("root") != str(root):
        return None
    classes, rows, folders = payload["classes"], payload["samples"], payload["folders"]
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes) and isinstance(rows, list)
            and isinstance(folders, dict) and rows):
        return None
    samples = []
    for path, label in rows:
        if not (isinstance(path, str) and isinstance(label, int) and 0 <= label < len(classes)
                and _inside(path)):
            return None
        samples.append((str(root / path), label))
    return FolderIndex(classes, samples)


def _inside(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return bool(parts) and not PurePosixPath(relative).is_absolute() and ".." not in parts


def _unchanged(root: Path, folders: dict[str, Any]) -> bool:
    """Every folder the index walked is still there with the same mtime."""
    for relative, mtime in folders.items():
        if not isinstance(relative, str) or not (relative == "." or _inside(relative)):
            return False
        try:
            if os.stat(root / relative).st_mtime_ns != mtime:
                return False
        except OSError:
            return False
    return "." in folders  # the tree's own folder: a class added or removed changes its time
