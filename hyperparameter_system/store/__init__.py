"""The results store: one SQLite file (WAL) per experiment, crash-safe by construction.

Lives at ``<output_dir>/<experiment>/results.sqlite`` (:func:`store_path`). Every
state change is one ``BEGIN IMMEDIATE`` transaction, so a ``kill -9`` at any moment
loses nothing that was finished, and readers (the summary, a second terminal) see a
consistent picture while a run is going and after a crash. The store is an index
of what lies on disk: every attempt folder holds ``attempt.json`` (which cell and
try it is), so ``hpsys --rebuild-store`` (``commands/rebuild.py``) can make the store
again when it is lost.

Tables:
    meta      key/value: ``created_at`` (ISO time, the matrix ``now``), ``experiment``,
              ``metric``, ``goal``, ``schema_version``.
    cells     one row per cell (cell_id PK, experiment, model, category, option JSON,
              option_label, run_name, project, "group", config_path, created, repeat
              (0.. the option's training), seed, same_as (the id of the identical cell
              that trains for it, NULL when it trains itself), max_epochs (SOLVER.MAX_EPOCHS
              as planned, NULL when the config has none)). A store made before
              repeat/seed/same_as/max_epochs gets them on open (``ALTER TABLE``).
    attempts  one row per try of a cell (id PK, cell_id, attempt 1.., status,
              started_at/ended_at unix seconds, duration_s, exit_code, command JSON,
              overrides JSON (retry overrides), output_dir, log_path, wandb_run_id,
              wandb_run_dir, metric, best_metric, best_epoch, epochs_run, error_tail,
              result JSON, runner_pid, runner_host, session, lease_expires, child_pid, node (the
              machine or Ray node the child ran on), and the
              child's result.json, each key once (``result_columns.py``): child_status, goal,
              final_metrics JSON, child_duration_s, samples_per_s, peak_memory_mb,
              config_path, child_run_id, child_error; ``result`` keeps only the keys outside
              the contract). A version-2 store's whole-result blobs move into these on open.
    epochs    one row per evaluation line of an attempt's metrics.jsonl
              (attempt_id, seq, epoch, step, metrics JSON); copying is idempotent.

Sweeps keep their own tables here too (``sweeps/state.py``): ``sweep_points`` (what a
trial is) and the view ``sweep_trials`` (each trial with its latest attempt's state).

Public API (everything else is private):
    store_path(output_dir, experiment) -> Path
    Store.open(path, *, experiment="", metric="val/acc", goal="maximize", created_at=None) -> Store
    Store.peek_created_at(path) -> datetime | None   read-only: no store is created
    Store.created_at -> datetime                    the matrix ``now`` for resumes
    Store.meta(key)
    Store.register_cells(cells)                     insert Cell rows (a known one updates repeat, seed, same_as)
    Store.claim(cell_id, *, session, rerun=None, output_dir_for=None, lease_s=...) -> AttemptRecord | None
    Store.claim_retry(previous, *, overrides=None, output_dir_for=None, lease_s=...) -> AttemptRecord | None
    Store.update_attempt(attempt_id, **columns)     e.g. child_pid, command, log_path
    Store.finish_attempt(attempt_id, status, **columns) -> bool
    Store.add_epochs(attempt_id, records, start_seq=0) -> int
    Store.renew_leases(session, lease_s)
    Store.stale_attempts() -> list[AttemptRecord]   'running' rows of dead runners
    Store.cells() -> list[CellRecord]               each stored Cell (its stored fields) + created, no attempts
    Store.cell_results() -> list[CellResult]        every Cell + latest and best attempt
    Store.attempts(cell_id=None) -> list[AttemptRecord]
    Store.attempt(attempt_id) -> AttemptRecord | None
    Store.epochs(attempt_id) -> list[EpochRow]
    Store.durations_by_model() -> dict[str, list[float]]
    Store.transaction() -> context manager yielding the connection (BEGIN IMMEDIATE)
    Store.query(sql, params=()) -> list[sqlite3.Row]   a read, without the write lock
    Store.create_tables(schema)                     another feature's tables (sweeps)
    Store.check_file()                              StoreError when the file was deleted or replaced
    Store.close()
    StoreError                                      every store failure, as one line
    attempt_file.write_attempt_file / add_outcome / read_attempt_file   attempt.json: a subset of the record

A *claim* is the insertion of a ``running`` attempt, decided inside one IMMEDIATE
transaction: two runner processes on one store can never both claim a cell. A
``running`` attempt whose runner is dead (its pid is gone on this host, or its lease
has expired) is *stale*; the runner finishes it (adopting a result the orphaned child
left, else marking it ``stopped``) before claiming again.
"""

from __future__ import annotations

from hyperparameter_system.store.core import Store
from hyperparameter_system.store.errors import StoreError
from hyperparameter_system.store.records import AttemptRecord, CellRecord, EpochPoint
from hyperparameter_system.store.rows import JSON_COLUMNS, CellResult, EpochRow, attempt_from_row, int_or_none
from hyperparameter_system.store.schema import (
    DEFAULT_LEASE_S, HOST, SCHEMA_VERSION, STORE_FILE, pid_alive, rebuild_path, remove_stale_rebuilds, store_path)

__all__ = [
    "DEFAULT_LEASE_S", "HOST", "JSON_COLUMNS", "SCHEMA_VERSION", "STORE_FILE", "AttemptRecord", "CellRecord",
    "CellResult", "EpochPoint", "EpochRow", "Store", "StoreError", "attempt_from_row", "int_or_none", "pid_alive",
    "rebuild_path", "remove_stale_rebuilds", "store_path",
]
