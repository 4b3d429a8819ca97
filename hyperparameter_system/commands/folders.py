"""The folders a command writes into, checked before anything is written.

An ``output_dir`` or ``temp_config_dir`` that is a file, sits on a read-only
file system or may not be written would otherwise surface as a traceback
halfway through (``NotADirectoryError`` from a mkdir, ``PermissionError`` from
SQLite's journal); here it is one line naming the setting, the path and the
cause, before the first byte is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from hyperparameter_system.config.spec import ExperimentSpec
    from hyperparameter_system.plugin.registry import Registry


def check_folder(path: str | os.PathLike[str], setting: str) -> None:
    """Raise :class:`HpsysError` unless ``path`` is, or can be made as, a writable folder.

    The nearest existing folder on the way is what decides: creating the rest
    below it then works.
    """
    target = Path(path).absolute()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        where = "" if probe == target else f" (on the way to {target})"
        raise HpsysError(f"{setting}: {probe} is a file, not a folder{where}")
    if not os.access(probe, os.W_OK | os.X_OK):
        cause = "read-only file system" if os.statvfs(probe).f_flag & os.ST_RDONLY else "permission denied"
        raise HpsysError(f"{setting}: {probe} is not writable ({cause})")


def check_folders(spec: ExperimentSpec) -> None:
    """The experiment's output and rendered-config folders (the store lives in the first)."""
    check_folder(Path(spec.output_dir) / spec.name, "output_dir")
    check_folder(spec.temp_config_dir, "temp_config_dir")


def render_configs(cells: Sequence[Cell], spec: ExperimentSpec, registry: Registry) -> None:
    """Render every cell's config; a full or failing disk is one line, not a traceback."""
    from hyperparameter_system.hyperparameter_configs import render_cells

    try:
        render_cells(cells, spec, registry)
    except OSError as error:
        where = error.filename2 or error.filename or spec.temp_config_dir  # a rename's target, not its temporary file
        raise HpsysError(f"temp_config_dir: cannot write {where}: {error.strerror or error}") from None
