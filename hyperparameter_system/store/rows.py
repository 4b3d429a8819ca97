"""The rows the results store hands out: epochs, summary rows (cells and attempts: ``records``).

Plain frozen data decoded from SQLite (JSON columns parsed), so readers such
as the summary never touch SQL. The package re-exports them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from typing import Any

from hyperparameter_system.store.records import AttemptRecord, CellRecord
from hyperparameter_system.store.result_columns import join_result

JSON_COLUMNS = frozenset({"command", "overrides", "result", "final_metrics"})


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
    latest: AttemptRecord | None
    best: AttemptRecord | None
    n_attempts: int


def attempt_from_row(row: sqlite3.Row) -> AttemptRecord:
    """An attempt row decoded (unset columns None); ``result`` is put back together from its columns."""
    data = dict(row)
    for key in JSON_COLUMNS:
        if data.get(key) is not None:
            data[key] = json.loads(data[key])
    data["result"] = join_result(data)
    data["command"] = tuple(str(arg) for arg in data.get("command") or ())
    names = {f.name for f in fields(AttemptRecord)}
    return AttemptRecord(**{k: v for k, v in data.items() if k in names})


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
