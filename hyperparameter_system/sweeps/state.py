"""Sweep state in the experiment's results store: the ``sweeps`` and ``sweep_trials`` tables.

A sweep lives in the same SQLite file as the matrix (``results.sqlite``), next
to the store's own tables, so one backup holds everything and ``--summary``
sees every trial (each trial is also a cell with attempts). Every change is
one ``BEGIN IMMEDIATE`` transaction through :meth:`Store.transaction`, so a
``kill -9`` of the sweep process loses no finished trial and ``--sweep-id``
continues where it stopped.

Tables:
    sweeps        sweep_id PK, experiment, model, category, backend, method,
                  config JSON (the engine config), spec JSON (hpsys extras),
                  created (unix s).
    sweep_trials  (sweep_id, trial) PK, cell_id, attempt_id, params JSON (the
                  sampled point, as the run's config), status, epochs_run,
                  epochs_saved, best_metric, history JSON (the metric per
                  evaluation), started_at, ended_at.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hyperparameter_system.store import Store

__all__ = ["SweepRecord", "SweepState", "TrialRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, model TEXT NOT NULL, category TEXT NOT NULL,
    backend TEXT NOT NULL, method TEXT NOT NULL, config TEXT NOT NULL, spec TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sweep_trials (
    sweep_id TEXT NOT NULL REFERENCES sweeps(sweep_id), trial INTEGER NOT NULL,
    cell_id TEXT NOT NULL, attempt_id INTEGER, params TEXT NOT NULL, status TEXT NOT NULL,
    epochs_run INTEGER, epochs_saved INTEGER, best_metric REAL, history TEXT,
    started_at REAL, ended_at REAL, PRIMARY KEY (sweep_id, trial));
"""
_TRIAL_COLUMNS = frozenset({"cell_id", "attempt_id", "status", "epochs_run", "epochs_saved", "best_metric", "history",
                            "ended_at"})


@dataclass(frozen=True)
class SweepRecord:
    """One sweep as stored."""

    sweep_id: str
    experiment: str
    model: str
    category: str
    backend: str
    method: str
    config: dict[str, Any]
    spec: dict[str, Any]
    created: float


@dataclass(frozen=True)
class TrialRecord:
    """One trial as stored; ``params`` is the sampled point ``{name: value}`` (nested as sampled)."""

    sweep_id: str
    trial: int
    cell_id: str
    attempt_id: int | None
    params: dict[str, Any]
    status: str
    epochs_run: int | None
    epochs_saved: int | None
    best_metric: float | None
    history: list[float]
    started_at: float | None
    ended_at: float | None


class SweepState:
    """Read and write one store's sweep tables."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.create_tables(_SCHEMA)

    def create(self, record: SweepRecord) -> None:
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO sweeps (sweep_id, experiment, model, category, backend, method, config,"
                       " spec, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (record.sweep_id, record.experiment, record.model, record.category, record.backend,
                        record.method, json.dumps(record.config, sort_keys=True),
                        json.dumps(record.spec, sort_keys=True), record.created))

    def sweep(self, sweep_id: str) -> SweepRecord | None:
        rows = self._rows("SELECT * FROM sweeps WHERE sweep_id = ?", (sweep_id,))
        if not rows:
            return None
        row = rows[0]
        return SweepRecord(**{**row, "config": json.loads(row["config"]), "spec": json.loads(row["spec"])})

    def sweep_ids(self) -> list[str]:
        return [row["sweep_id"] for row in self._rows("SELECT sweep_id FROM sweeps ORDER BY created", ())]

    def reserve_trial(self, sweep_id: str, params: dict[str, Any]) -> int:
        """Insert the next trial (numbered 1, 2, ... across invocations) as ``pending``.

        The number is taken inside one IMMEDIATE transaction, so numbering
        continues after a crash and two processes never share a number; the
        caller sets ``cell_id`` once the trial's cell is built.
        """
        with self.store.transaction() as tx:
            last = tx.execute("SELECT MAX(trial) FROM sweep_trials WHERE sweep_id = ?", (sweep_id,)).fetchone()[0]
            number = int(last or 0) + 1
            tx.execute("INSERT INTO sweep_trials (sweep_id, trial, cell_id, params, status, history, started_at)"
                       " VALUES (?, ?, '', ?, 'pending', '[]', ?)",
                       (sweep_id, number, json.dumps(params, sort_keys=True), time.time()))
        return number

    def update_trial(self, sweep_id: str, trial: int, **columns: Any) -> None:
        unknown = set(columns) - _TRIAL_COLUMNS
        if unknown:
            raise ValueError(f"unknown sweep_trials columns: {sorted(unknown)}")
        values = [json.dumps(v) if k == "history" else v for k, v in columns.items()]
        sets = ", ".join(f"{k} = ?" for k in columns)
        with self.store.transaction() as tx:
            tx.execute(f"UPDATE sweep_trials SET {sets} WHERE sweep_id = ? AND trial = ?",
                       (*values, sweep_id, trial))

    def trials(self, sweep_id: str) -> list[TrialRecord]:
        rows = self._rows("SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY trial", (sweep_id,))
        return [TrialRecord(**{**row, "params": json.loads(row["params"]),
                               "history": json.loads(row["history"] or "[]")}) for row in rows]

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(row) for row in self.store.query(sql, params)]
