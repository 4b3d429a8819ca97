"""What ``--dry-run`` leaves under ``temp_configs/``: one generation, never a pile.

Before a store exists, run names carry the minute of the plan, so each dry run
a minute apart would write a new file per cell beside the last one. A dry run
remembers the file it wrote for each cell (``.dry-run.json`` in the
experiment's config folder) and, the next time, removes that file when the
same cell now renders to another name. Only files a dry run wrote, inside that
folder, are ever removed; other cells' files and a run's files stay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from hyperparameter_system.files.atomic import write_text_atomic
from hyperparameter_system.matrix.cell import Cell

__all__ = ["MANIFEST", "replace_generation"]

MANIFEST = ".dry-run.json"  # {cell id: config path} of the last dry run


def replace_generation(cells: Sequence[Cell], config_dir: Path) -> int:
    """Remove the previous dry run's file of each cell that now renders elsewhere; remember the new ones.

    Call after the new configs are written. Returns how many old files went.
    """
    root = config_dir.resolve()
    previous = _read_manifest(root / MANIFEST)
    removed = 0
    for cell in cells:
        old = previous.get(cell.cell_id)
        if old is None or Path(old).resolve() == Path(cell.config_path).resolve():
            continue
        path = Path(old)
        if not path.is_symlink() and root in path.resolve().parents and path.suffix == ".yaml" and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    previous.update({cell.cell_id: str(Path(cell.config_path).resolve()) for cell in cells})
    kept = {cell_id: path for cell_id, path in previous.items() if Path(path).is_file()}
    write_text_atomic(root / MANIFEST, json.dumps(kept, indent=0, sort_keys=True), durable=False)
    return removed


def _read_manifest(path: Path) -> dict[str, str]:
    """The last dry run's files; anything unreadable or odd counts as none (it is only a cleanup hint)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}
