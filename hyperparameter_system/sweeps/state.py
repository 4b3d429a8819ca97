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
    sweep_points  what is a trial's own: (sweep_id, trial) PK, cell_id, params
                  JSON (the sampled point, as the run's config), max_epochs (the
                  epochs its cell is planned for), state (its own state until its
                  cell has an attempt: pending, running, failed, stopped),
                  started_at (when it was reserved).
    sweep_trials  a view: each trial with its cell's latest attempt, so status,
                  best_metric, epochs_run, epochs_saved, history (the metric per
                  evaluation) and ended_at are read from the attempts, never copied.

A store made before the view holds ``sweep_trials`` as a table; opening its sweep
state moves each trial's own columns into ``sweep_points`` and replaces the
table by the view (one transaction).
"""

from __future__ import annotations

import json
import sqlite3
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
CREATE TABLE IF NOT EXISTS sweep_points (
    sweep_id TEXT NOT NULL REFERENCES sweeps(sweep_id), trial INTEGER NOT NULL,
    cell_id TEXT NOT NULL, params TEXT NOT NULL, max_epochs INTEGER, state TEXT NOT NULL,
    started_at REAL, PRIMARY KEY (sweep_id, trial))
"""
# A trial's state is its cell's latest attempt's; its history is the sweep metric of
# that attempt's evaluations (numbers only, in order).
_VIEW = """
CREATE VIEW IF NOT EXISTS sweep_trials AS
WITH latest AS (
    SELECT p.*, (SELECT MAX(id) FROM attempts WHERE cell_id = p.cell_id AND p.cell_id != '') AS attempt_id,
           '$."' || (SELECT json_extract(s.config, '$.metric.name') FROM sweeps s
                     WHERE s.sweep_id = p.sweep_id) || '"' AS path
    FROM sweep_points p),
curve AS (
    SELECT l.*, (SELECT json_group_array(value) FROM (
        SELECT json_extract(e.metrics, l.path) AS value FROM epochs e
        WHERE e.attempt_id = l.attempt_id
          AND CASE WHEN json_valid(e.metrics) THEN json_type(e.metrics, l.path) END IN ('integer', 'real')
        ORDER BY e.seq)) AS history
    FROM latest l)
SELECT c.sweep_id, c.trial, c.cell_id, c.attempt_id, c.params, COALESCE(a.status, c.state) AS status,
       a.epochs_run,
       CASE WHEN a.status = 'early_terminated' AND c.max_epochs IS NOT NULL
            THEN MAX(0, c.max_epochs - COALESCE(NULLIF(a.epochs_run, 0), json_array_length(c.history)))
       END AS epochs_saved,
       a.best_metric, c.history, c.started_at, a.ended_at
FROM curve c LEFT JOIN attempts a ON a.id = c.attempt_id
"""
# Moving a store's ``sweep_trials`` table (before the view) into ``sweep_points``; the
# planned epochs come back from the saved ones where a trial was stopped early.
_MIGRATE = """
INSERT OR IGNORE INTO sweep_points (sweep_id, trial, cell_id, params, max_epochs, state, started_at)
    SELECT sweep_id, trial, cell_id, params,
           CASE WHEN epochs_saved IS NOT NULL THEN epochs_saved + COALESCE(NULLIF(epochs_run, 0),
                json_array_length(CASE WHEN json_valid(history) THEN history END)) END,
           status, started_at FROM sweep_trials;
DROP TABLE sweep_trials
"""
_OWN_COLUMNS = frozenset({"cell_id", "max_epochs", "state"})


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
    """One trial with its latest attempt's state (the ``sweep_trials`` view).

    ``params`` is the sampled point ``{name: value}`` (nested as sampled).
    """

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
        with store.transaction() as tx:  # one transaction: two processes never both migrate
            migrate = _MIGRATE if _is_table(tx, "sweep_trials") else ""
            for statement in filter(str.strip, ";".join((_SCHEMA, migrate, _VIEW)).split(";")):
                tx.execute(statement)

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
            last = tx.execute("SELECT MAX(trial) FROM sweep_points WHERE sweep_id = ?", (sweep_id,)).fetchone()[0]
            number = int(last or 0) + 1
            tx.execute("INSERT INTO sweep_points (sweep_id, trial, cell_id, params, state, started_at)"
                       " VALUES (?, ?, '', ?, 'pending', ?)",
                       (sweep_id, number, json.dumps(params, sort_keys=True), time.time()))
        return number

    def update_trial(self, sweep_id: str, trial: int, **columns: Any) -> None:
        """Set a trial's own columns: ``cell_id``, ``max_epochs``, ``state`` (before its cell has an attempt).

        What its attempts say (status, metric, epochs, curve) is read through the
        ``sweep_trials`` view, never written here.
        """
        unknown = set(columns) - _OWN_COLUMNS
        if unknown:
            raise ValueError(f"unknown sweep_points columns: {sorted(unknown)}")
        sets = ", ".join(f"{k} = ?" for k in columns)
        with self.store.transaction() as tx:
            tx.execute(f"UPDATE sweep_points SET {sets} WHERE sweep_id = ? AND trial = ?",
                       (*columns.values(), sweep_id, trial))

    def trials(self, sweep_id: str) -> list[TrialRecord]:
        """Every trial of the sweep with its latest attempt's state, in trial order."""
        rows = self._rows("SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY trial", (sweep_id,))
        return [TrialRecord(**{**row, "params": json.loads(row["params"]),
                               "history": [float(v) for v in json.loads(row["history"] or "[]")]})
                for row in rows]

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(row) for row in self.store.query(sql, params)]


def _is_table(tx: sqlite3.Connection, name: str) -> bool:
    return tx.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
