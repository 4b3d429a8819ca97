"""The rows the results store hands out: epochs, summary rows (cells and attempts: ``records``).

Plain frozen data decoded from SQLite (JSON columns parsed), so readers such
as the summary never touch SQL. The package re-exports them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from typing import Any, Mapping

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.store.records import AttemptRecord
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

    cell: Cell
    latest: AttemptRecord | None
    best: AttemptRecord | None
    n_attempts: int


# The Cell fields the store keeps (the cells table's columns but ``created``; an attempt.json's cell).
STORED_CELL_FIELDS = ("cell_id", "experiment", "model", "category", "option", "option_label", "run_name",
                      "project", "group", "config_path", "repeat", "seed", "same_as", "max_epochs")


def stored_cell(fields: Mapping[str, Any]) -> Cell:
    """The cell a store row or an attempt file holds (``option`` decoded already).

    Fields newer than the first stores (repeat, seed, same_as, max_epochs) may
    be missing: they read as a cell from before they existed. The launch-only
    fields stay at their defaults (see :class:`Cell`).

    Raises:
        TypeError: a field without a default missing (a caller checks its input first).
    """
    kept = {k: fields[k] for k in STORED_CELL_FIELDS if k in fields}
    return Cell.planned({**kept, "tags": (), "option": fields.get("option"), "repeat": fields.get("repeat") or 0,
                         "same_as": fields.get("same_as") or ""})


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
