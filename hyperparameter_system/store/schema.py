"""The store's tables and the rules that live in SQL: schema, claim rule, column checks.

Kept apart from the connection class so the rules read on their own: which
columns a caller may set, when a cell may be claimed again, how the file is
put into WAL mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any, Mapping

from hyperparameter_system.child_contract import Status
from hyperparameter_system.store.result_columns import (
    ADDED_ATTEMPT_COLUMNS, RESULT_COLUMNS, RESULT_ONLY_COLUMNS, move_results_into_columns, split_result)
from hyperparameter_system.store.errors import StoreError
from hyperparameter_system.store.rows import JSON_COLUMNS

# 2: cells.repeat, seed, same_as; 3: cells.max_epochs, a result's known keys in attempt columns,
# ``result`` only the others; 4: attempts.node (where the child ran). An older store is brought up
# to date on open.
SCHEMA_VERSION = "4"
STORE_FILE = "results.sqlite"
DEFAULT_LEASE_S = 120.0
BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction
HOST = socket.gethostname()

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    cell_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, model TEXT NOT NULL,
    category TEXT NOT NULL, option TEXT, option_label TEXT NOT NULL, run_name TEXT NOT NULL,
    project TEXT NOT NULL, "group" TEXT NOT NULL, config_path TEXT NOT NULL, created TEXT NOT NULL,
    repeat INTEGER NOT NULL DEFAULT 0, seed INTEGER, same_as TEXT, max_epochs INTEGER);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cell_id TEXT NOT NULL REFERENCES cells(cell_id),
    attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL, ended_at REAL,
    duration_s REAL, exit_code INTEGER, command TEXT, overrides TEXT, output_dir TEXT,
    log_path TEXT, wandb_run_id TEXT, wandb_run_dir TEXT, metric TEXT, best_metric REAL,
    best_epoch INTEGER, epochs_run INTEGER, error_tail TEXT, result TEXT,
    runner_pid INTEGER, runner_host TEXT, session TEXT, lease_expires REAL, child_pid INTEGER,
    child_status TEXT, goal TEXT, final_metrics TEXT, child_duration_s REAL, samples_per_s REAL,
    peak_memory_mb REAL, config_path TEXT, child_run_id TEXT, child_error TEXT, node TEXT,
    UNIQUE (cell_id, attempt));
CREATE INDEX IF NOT EXISTS attempts_by_status ON attempts (status);
CREATE TABLE IF NOT EXISTS epochs (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id), seq INTEGER NOT NULL,
    epoch INTEGER, step INTEGER, metrics TEXT NOT NULL, PRIMARY KEY (attempt_id, seq));
"""

# Columns of ``cells`` newer than the first stores: (name, declaration) for ALTER TABLE.
ADDED_CELL_COLUMNS = (("repeat", "INTEGER NOT NULL DEFAULT 0"), ("seed", "INTEGER"), ("same_as", "TEXT"),
                      ("max_epochs", "INTEGER"))

# Columns a caller may set through update_attempt / finish_attempt.
UPDATABLE = frozenset({
    "duration_s", "exit_code", "command", "overrides", "output_dir", "log_path", "wandb_run_id",
    "wandb_run_dir", "metric", "best_metric", "best_epoch", "epochs_run", "error_tail", "result",
    "child_pid", "ended_at", "started_at", "node", *RESULT_ONLY_COLUMNS,
})
# Statuses a plain resume does not run again (besides completed / early_terminated):
# the runner already retried them as far as the policy allows.
_UNSUCCESSFUL_FINAL = frozenset({Status.FAILED, Status.TIMEOUT, Status.OOM, Status.NONFINITE})


def store_path(output_dir: str | os.PathLike[str], experiment: str) -> Path:
    """Where an experiment's store lives."""
    return Path(output_dir) / experiment / STORE_FILE


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def rebuild_path(path: Path, pid: int) -> Path:
    """Where ``--rebuild-store`` (process ``pid``) builds a store before moving it to ``path``."""
    return path.with_name(f".{path.name}.rebuild-{pid}")


def remove_stale_rebuilds(path: Path) -> None:
    """Remove what killed rebuilds left beside ``path`` (their process is gone); best effort."""
    prefix = rebuild_path(path, 0).name[:-1]
    try:
        leftovers = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for leftover in leftovers:
        pid = leftover.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                leftover.unlink()


def create_tables(tx: sqlite3.Connection, schema: str) -> None:
    for statement in filter(str.strip, schema.split(";")):
        tx.execute(statement)


def add_missing_columns(tx: sqlite3.Connection) -> None:
    """Bring an older store up to date, inside the open's transaction (two runners cannot both do it).

    Version 1 lacks repeats and shared cells: old rows read as repeat 0, trained
    themselves. Version 2 kept a whole result.json in ``attempts.result``: its known
    keys move into their columns. Idempotent.
    """
    _add_columns(tx, "cells", ADDED_CELL_COLUMNS)
    _add_columns(tx, "attempts", (("node", "TEXT"),))
    if _add_columns(tx, "attempts", ADDED_ATTEMPT_COLUMNS):
        rows = tx.execute("SELECT id, result FROM attempts WHERE result IS NOT NULL").fetchall()
        for columns, attempt_id in move_results_into_columns(rows):
            sets, values = assignments(columns, keep_runner_columns=True)
            tx.execute(f"UPDATE attempts SET {sets} WHERE id = ?", (*values, attempt_id))
    tx.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))


def stored_version(conn: sqlite3.Connection) -> int | None:
    """The store's schema version as a number; None for a store that has not written it yet.

    Read from the file, so untrusted: anything but a whole number reads as newer
    than any version, and is refused like one.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return None
    text = str(row[0])
    return int(text) if text.isdigit() else 10**9


def check_version(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a store written by a newer hpsys: its tables may mean what this one cannot read."""
    version = stored_version(conn)
    if version is not None and version > int(SCHEMA_VERSION):
        raise StoreError(f"{path}: written by a newer hpsys (store schema {version}; this one knows up to "
                         f"{SCHEMA_VERSION}): upgrade hpsys to read or resume it")


def _add_columns(tx: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> bool:
    """Add the columns ``table`` lacks; True when any was missing."""
    present = {row[1] for row in tx.execute(f"PRAGMA table_info({table})")}
    missing = [(name, declaration) for name, declaration in columns if name not in present]
    for name, declaration in missing:
        tx.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
    return bool(missing)


def switch_to_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode, waiting out another process doing the same.

    Two runners started together on a new experiment both switch the fresh file
    to WAL; SQLite answers the loser "database is locked" at once, without
    waiting for its busy timeout, so the wait is done here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def claimable(rows: list[tuple[int, str, str | None]], session: str, rerun: str | None) -> bool:
    """The claim rule, on a cell's attempts (number, status, session) in order."""
    if any(status == Status.RUNNING.value for _, status, _ in rows):
        return False
    if not rows:
        return True
    if rerun == "all":
        return all(owner != session for _, _, owner in rows)
    latest = Status(rows[-1][1])
    if latest.finished_ok:
        return False
    if latest in _UNSUCCESSFUL_FINAL:
        return rerun == "failed" and all(owner != session for _, _, owner in rows)
    return True  # stopped / interrupted: a plain resume runs it again


def assignments(columns: Mapping[str, Any], *, keep_runner_columns: bool = False) -> tuple[str, list[Any]]:
    """``SET`` clause and values for attempt columns (JSON columns encoded).

    A ``result`` (a result.json as a dict) is spread over its columns; a column
    also given by name keeps that value. ``keep_runner_columns``: the columns the
    runner fills too keep what they hold (``COALESCE``), for moving old rows.
    """
    if "result" in columns:
        columns = {**split_result(columns["result"]), **{k: v for k, v in columns.items() if k != "result"}}
    unknown = set(columns) - UPDATABLE
    if unknown:
        raise ValueError(f"unknown attempt columns: {sorted(unknown)}")
    values = [json.dumps(v, sort_keys=True) if k in JSON_COLUMNS and v is not None else v
              for k, v in columns.items()]
    shared = set(RESULT_COLUMNS.values()) - RESULT_ONLY_COLUMNS if keep_runner_columns else set()
    return ", ".join(f"{k} = COALESCE({k}, ?)" if k in shared else f"{k} = ?" for k in columns), values
