"""The rows the results store hands out: attempts, epochs, summary rows (cells: ``records.CellRecord``).

Plain frozen data decoded from SQLite (JSON columns parsed), so readers such
as the summary never touch SQL. The package re-exports them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from typing import Any

from hyperparameter_system.store.records import CellRecord
from hyperparameter_system.store.result_columns import join_result

JSON_COLUMNS = frozenset({"command", "overrides", "result", "final_metrics"})


@dataclass(frozen=True)
class Attempt:
    """One try of a cell; JSON columns decoded, unset values None."""

    id: int
    cell_id: str
    attempt: int
    status: str
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    command: list[str] | None = None
    overrides: list[Any] | None = None
    output_dir: str | None = None
    log_path: str | None = None
    wandb_run_id: str | None = None
    wandb_run_dir: str | None = None
    metric: str | None = None
    best_metric: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    error_tail: str | None = None
    result: dict[str, Any] | None = None  # the child's result.json (from its columns), None without one
    runner_pid: int | None = None
    runner_host: str | None = None
    session: str | None = None
    lease_expires: float | None = None
    child_pid: int | None = None


@dataclass(frozen=True)
class EpochRow:
    """One evaluation of an attempt (one metrics.jsonl line)."""

    attempt_id: int
    seq: int
    epoch: int | None
    step: int | None
    metrics: dict[str, Any]


@dataclass(frozen=True)
class CellResult:
    """A cell with its latest and its best attempt, what a summary row needs."""

    cell: CellRecord
    latest: Attempt | None
    best: Attempt | None
    n_attempts: int


def attempt_from_row(row: sqlite3.Row) -> Attempt:
    """An attempt row decoded; ``result`` is put back together from its columns."""
    data = dict(row)
    for key in JSON_COLUMNS:
        if data.get(key) is not None:
            data[key] = json.loads(data[key])
    data["result"] = join_result(data)
    names = {f.name for f in fields(Attempt)}
    return Attempt(**{k: v for k, v in data.items() if k in names})


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
