"""Where a child's result.json lands in an attempt row: one column per known key.

A result is stored once: each key of :data:`~hyperparameter_system.child_contract.RESULT_KEYS`
in its own column of ``attempts`` (the ones the runner also decides, such as
``best_metric``, share the runner's column), and only the keys outside that
contract (a user's own notes, a fake child's markers) in the ``result`` JSON
column. Reading puts the dict back together in the shape of
``ChildResult.to_dict()``, so a reader sees the result the child wrote.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from hyperparameter_system.child_contract import RESULT_KEYS

# result.json key -> attempts column. ``child_*`` columns hold what the child said
# where the runner keeps its own fact of the same name (its verdict, its wall time,
# the run id it handed out, the log's tail).
RESULT_COLUMNS: Mapping[str, str] = {
    "status": "child_status", "metric": "metric", "goal": "goal", "best_metric": "best_metric",
    "best_epoch": "best_epoch", "final_metrics": "final_metrics", "epochs_run": "epochs_run",
    "duration_s": "child_duration_s", "samples_per_s": "samples_per_s", "peak_memory_mb": "peak_memory_mb",
    "config_path": "config_path", "wandb_run_dir": "wandb_run_dir", "wandb_run_id": "child_run_id",
    "error": "child_error",
}
assert set(RESULT_COLUMNS) == set(RESULT_KEYS), "every result key has its column"

# The columns a version-2 store lacks (name, declaration), added on open.
ADDED_ATTEMPT_COLUMNS = (
    ("child_status", "TEXT"), ("goal", "TEXT"), ("final_metrics", "TEXT"), ("child_duration_s", "REAL"),
    ("samples_per_s", "REAL"), ("peak_memory_mb", "REAL"), ("config_path", "TEXT"), ("child_run_id", "TEXT"),
    ("child_error", "TEXT"),
)
RESULT_ONLY_COLUMNS = frozenset(name for name, _ in ADDED_ATTEMPT_COLUMNS)


def split_result(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attempt columns a result fills: its known keys, and ``result`` = the other keys (or None)."""
    if result is None:
        return {"result": None}
    columns = {column: result.get(key) for key, column in RESULT_COLUMNS.items()}
    extra = {k: v for k, v in result.items() if k not in RESULT_COLUMNS}
    columns["result"] = extra or None
    return columns


def join_result(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The result an attempt row holds (None when the child wrote none).

    ``row`` has its JSON columns decoded. A version-2 store read without
    migrating (a read-only open) still holds the whole result in ``result``.
    """
    extra = row.get("result")
    if row.get("child_status") is None:
        return extra if isinstance(extra, dict) and "status" in extra else None
    known = {key: row.get(column) for key, column in RESULT_COLUMNS.items()}
    return {**(extra or {}), **known, "final_metrics": known["final_metrics"] or {}}


def move_results_into_columns(rows: list[tuple[int, str]]) -> list[tuple[dict[str, Any], int]]:
    """(columns, attempt id) for version-2 rows ``(id, result JSON)``: the blob split as a write splits it.

    The runner's own columns (``metric``, ``best_metric``, ...) keep what they hold.
    """
    updates = []
    for attempt_id, text in rows:
        try:
            result = json.loads(text)
        except ValueError:
            continue  # not JSON: nothing a reader could have used
        if isinstance(result, dict) and "status" in result:
            updates.append((split_result(result), attempt_id))
    return updates
