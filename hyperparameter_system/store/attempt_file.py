"""``attempt.json``: what an attempt folder is, written by the runner itself.

The store is an index of the attempt folders; this small record in each of
them is what lets :mod:`hyperparameter_system.commands.rebuild` make the store
again when it is lost. It is a serialisation of the store's own records, never
a shape of its own: the cell's identity as the planner made it (a named subset
of its ``Cell``, never guessed from folder names) and the attempt (named
subsets of :class:`AttemptRecord`: what it was launched with, and once it has
ended the outcome the runner recorded, copied from the store row, so a failed
attempt comes back failed and its duration is the same).

Written atomically at launch and again at the end; a failure to write it
never fails the attempt (the store still has everything).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from hyperparameter_system.files.atomic import write_text_atomic
from hyperparameter_system.child_contract import Status
from hyperparameter_system.files.child_files import ChildFileError, read_child_file
from hyperparameter_system.store.records import AttemptRecord, CellRecord
from hyperparameter_system.store.rows import stored_cell

if TYPE_CHECKING:
    from hyperparameter_system.store.core import Store

ATTEMPT_FILE = "attempt.json"
MAX_ATTEMPT_FILE_BYTES = 1 << 22  # a record is a few kB (its command and env); more is junk
FORMAT = 1
# The Cell fields a file carries; all strings but ``option`` (any JSON).
CELL_KEYS = ("cell_id", "experiment", "model", "category", "option", "option_label", "run_name",
             "project", "group", "config_path")
# Whole numbers a file carries too (absent from older files; seed and max_epochs may be null).
CELL_NUMBER_KEYS = ("repeat", "seed", "max_epochs")
# The AttemptRecord fields known at launch (``columns``), with the type each must have
# when read back; ``env`` is written as a mapping named ``launch_env``.
LAUNCH_KEYS: Mapping[str, type] = {"command": list, "overrides": list, "log_path": str, "wandb_run_id": str,
                                   "session": str, "cwd": str}
# The AttemptRecord fields the store row holds once the attempt ended (``outcome``), typed likewise.
OUTCOME_KEYS: Mapping[str, type] = {
    "status": str, "ended_at": float, "duration_s": float, "exit_code": int, "metric": str, "best_metric": float,
    "best_epoch": int, "epochs_run": int, "error_tail": str, "wandb_run_dir": str, "node": str}


def write_attempt_file(folder: str | os.PathLike[str], cell: Mapping[str, Any], record: AttemptRecord,
                       store_created_at: str) -> None:
    """Record which cell and try ``folder`` holds (at launch, before the child starts).

    Args:
        cell: The planned cell's fields (``CELL_KEYS`` and ``CELL_NUMBER_KEYS`` are kept).
        record: The claimed attempt with what it is launched with (command, env, cwd, ...).
    """
    kept = {k: cell[k] for k in (*CELL_KEYS, *CELL_NUMBER_KEYS) if k in cell}
    columns: dict[str, Any] = {k: getattr(record, k) for k in LAUNCH_KEYS}
    columns["command"], columns["launch_env"] = list(record.command), dict(record.env)
    payload = {"format": FORMAT, "cell": kept, "attempt": record.attempt, "started_at": record.started_at or 0.0,
               "store_created_at": store_created_at, "columns": columns, "outcome": None}
    write_text_atomic(Path(folder) / ATTEMPT_FILE, json.dumps(payload, indent=2, sort_keys=True, default=str))


def add_outcome(store: Store, attempt_id: int, folder: str | os.PathLike[str] | None) -> None:
    """Copy an ended attempt's store row (``OUTCOME_KEYS``) into its file; best effort."""
    if not folder:
        return
    path = Path(folder) / ATTEMPT_FILE
    try:
        record = store.attempt(attempt_id)
        payload = _load(path)
        if record is None or not isinstance(payload, dict):
            return
        payload["outcome"] = {k: getattr(record, k) for k in OUTCOME_KEYS}
        write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
    except (OSError, ValueError, TypeError, ChildFileError):
        return  # no file (an older folder), or a full disk: the store row is the truth


def read_attempt_file(folder: str | os.PathLike[str]) -> tuple[CellRecord, AttemptRecord] | str:
    """The folder's cell and attempt, or why they cannot be used (a one-line reason).

    The cell's ``created`` is the store's creation time the file names. The
    attempt's status is ``running`` while the file holds no outcome. The file is
    untrusted input (a disk hands it back): every field is checked, and an
    outcome or launch field of the wrong type reads as unset.
    """
    path = Path(folder) / ATTEMPT_FILE
    try:
        payload = _load(path)
    except FileNotFoundError:
        return f"{path}: missing"
    except ChildFileError as error:
        return str(error)
    except (OSError, ValueError) as error:
        return f"{path}: unreadable ({error})"
    problem = _problem(payload)
    if problem:
        return f"{path}: {problem}"
    cell = CellRecord(stored_cell(payload["cell"]), created=str(payload["store_created_at"]))
    columns = payload.get("columns") if isinstance(payload.get("columns"), dict) else {}
    launched = _typed(columns, LAUNCH_KEYS)
    env = columns.get("launch_env")
    known = {**launched, **_typed(payload.get("outcome") or {"status": Status.RUNNING.value}, OUTCOME_KEYS),
             "command": tuple(str(arg) for arg in launched["command"] or ()), "cwd": launched["cwd"] or "",
             "env": tuple(sorted((str(k), str(v)) for k, v in env.items())) if isinstance(env, dict) else ()}
    record = AttemptRecord(**known, attempt=int(payload["attempt"]), cell_id=cell.cell.cell_id,
                           started_at=float(payload["started_at"]), output_dir=str(folder))
    return cell, record


def _typed(values: Mapping[str, Any], kinds: Mapping[str, type]) -> dict[str, Any]:
    """The ``values`` of each key whose type is its kind's (a float may be an int); others are None."""
    out: dict[str, Any] = {}
    for key, kind in kinds.items():
        value = values.get(key)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[key] = value if isinstance(value, kind) and not isinstance(value, bool) else None
    return out


def _load(path: Path) -> Any:
    """The parsed record; the folder is the child's too, so it is read guarded and bounded.

    Raises:
        FileNotFoundError, ChildFileError (not a regular file), ValueError (too big, not JSON).
    """
    raw = read_child_file(path, MAX_ATTEMPT_FILE_BYTES + 1)
    if raw is None:
        raise FileNotFoundError(path)
    if len(raw) > MAX_ATTEMPT_FILE_BYTES:
        raise ValueError(f"larger than {MAX_ATTEMPT_FILE_BYTES} bytes")
    return json.loads(raw.decode("utf-8"))


def _problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return f"not an attempt record of format {FORMAT}"
    cell = payload.get("cell")
    if not isinstance(cell, dict):
        return "cell: missing"
    for key in CELL_KEYS:
        if key != "option" and not isinstance(cell.get(key), str):
            return f"cell.{key}: missing or not text"
    for key in CELL_NUMBER_KEYS:
        value = cell.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"cell.{key}: not a whole number"
    if not (cell["cell_id"] and cell["model"] and cell["run_name"]):
        return "cell: cell_id, model and run_name must not be empty"
    number = payload.get("attempt")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        return f"attempt: must be a positive integer, got {number!r}"
    if not isinstance(payload.get("started_at"), (int, float)):
        return "started_at: missing"
    try:
        datetime.fromisoformat(payload.get("store_created_at"))
    except (TypeError, ValueError):
        return "store_created_at: missing or not an ISO time"
    outcome = payload.get("outcome")
    if outcome is not None and not (isinstance(outcome, dict) and isinstance(outcome.get("status"), str)):
        return "outcome: not a status record"
    return None
