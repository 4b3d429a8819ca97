"""``attempt.json``: what an attempt folder is, written by the runner itself.

The store is an index of the attempt folders; this small record in each of
them is what lets :mod:`hyperparameter_system.commands.rebuild` make the store
again when it is lost: the cell's identity exactly as the planner made it
(never guessed from folder names), the try's number and start, and, once the
attempt has ended, the outcome the runner recorded (a copy of the store row,
so a failed attempt comes back failed and its duration is the same).

Written atomically at launch and again at the end; a failure to write it
never fails the attempt (the store still has everything).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from hyperparameter_system.atomic import write_text_atomic
from hyperparameter_system.child_files import ChildFileError, read_child_file

if TYPE_CHECKING:
    from hyperparameter_system.store.core import Store

ATTEMPT_FILE = "attempt.json"
MAX_ATTEMPT_FILE_BYTES = 1 << 22  # a record is a few kB (its command and env); more is junk
FORMAT = 1
# The cells-table columns a record carries; all strings but ``option`` (any JSON).
CELL_KEYS = ("cell_id", "experiment", "model", "category", "option", "option_label", "run_name",
             "project", "group", "config_path")
# Whole numbers a record carries too (absent from older records; seed and max_epochs may be null).
CELL_NUMBER_KEYS = ("repeat", "seed", "max_epochs")
# The attempts-table columns copied into the record when the attempt ends.
OUTCOME_KEYS = ("status", "ended_at", "duration_s", "exit_code", "metric", "best_metric", "best_epoch",
                "epochs_run", "error_tail", "wandb_run_dir")


@dataclass(frozen=True)
class AttemptFile:
    """A validated ``attempt.json``."""

    folder: Path
    cell: dict[str, Any]  # CELL_KEYS, and CELL_NUMBER_KEYS where the record has them
    attempt: int
    started_at: float
    store_created_at: str
    columns: dict[str, Any]  # command, overrides, log_path, wandb_run_id, session, runner_pid, runner_host
    outcome: dict[str, Any] | None  # OUTCOME_KEYS, once the attempt has ended


def write_attempt_file(folder: str | os.PathLike[str], cell: Mapping[str, Any], attempt: int,
                       started_at: float, store_created_at: str, **columns: Any) -> None:
    """Record which cell and try ``folder`` holds (at launch, before the child starts)."""
    kept = {k: cell[k] for k in (*CELL_KEYS, *CELL_NUMBER_KEYS) if k in cell}
    payload = {"format": FORMAT, "cell": kept, "attempt": attempt,
               "started_at": started_at, "store_created_at": store_created_at, "columns": columns,
               "outcome": None}
    write_text_atomic(Path(folder) / ATTEMPT_FILE, json.dumps(payload, indent=2, sort_keys=True, default=str))


def add_outcome(store: Store, attempt_id: int, folder: str | os.PathLike[str] | None) -> None:
    """Copy an ended attempt's store row (``OUTCOME_KEYS``) into its record; best effort."""
    if not folder:
        return
    path = Path(folder) / ATTEMPT_FILE
    try:
        rows = store.query(f"SELECT {', '.join(OUTCOME_KEYS)} FROM attempts WHERE id = ?", (attempt_id,))
        payload = _load(path)
        if not rows or not isinstance(payload, dict):
            return
        payload["outcome"] = dict(rows[0])
        write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
    except (OSError, ValueError, TypeError, ChildFileError):
        return  # no record (an older folder), or a full disk: the store row is the truth


def read_attempt_file(folder: str | os.PathLike[str]) -> AttemptFile | str:
    """The folder's record, or why it cannot be used (a one-line reason).

    The file is untrusted input (a disk hands it back): every field is checked.
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
    outcome = payload.get("outcome")
    return AttemptFile(Path(folder), dict(payload["cell"]), int(payload["attempt"]), float(payload["started_at"]),
                       str(payload["store_created_at"]), dict(payload.get("columns") or {}),
                       dict(outcome) if isinstance(outcome, dict) else None)


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
