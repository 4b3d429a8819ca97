"""The results store's connection: one per process, every write one IMMEDIATE transaction.

See the package docstring for the tables and the public API. Every SQLite or
OS error of the store file leaves here as one :class:`StoreError` line
(``errors.translated``), and :meth:`Store.check_file` tells a runner that the
file it opened was deleted or replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import Status
from hyperparameter_system.config.goal import Goal
from hyperparameter_system.store.errors import FileIdentity, StoreError, check_header, check_writable, translated
from hyperparameter_system.store.records import AttemptRecord, CellRecord
from hyperparameter_system.store.rows import CellResult, EpochRow, attempt_from_row, int_or_none, stored_cell
from hyperparameter_system.store.schema import (
    BUSY_TIMEOUT_S, DEFAULT_LEASE_S, HOST, SCHEMA, SCHEMA_VERSION, add_missing_columns, assignments, check_version,
    claimable, create_tables, pid_alive, remove_stale_rebuilds, switch_to_wal)


class Store:
    """A connection to one experiment's store; one per process (thread-safe)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self._identity = FileIdentity.of(path)
        self._side_files: dict[Path, FileIdentity] = {}  # this connection's -wal and -shm, once it has them

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, experiment: str = "",
             metric: str = "val/acc", goal: str = "maximize", created_at: datetime | None = None) -> Store:
        """Open (creating when missing) the store at ``path``.

        ``metric``/``goal`` are recorded on creation and decide which attempt is
        "best"; an existing store keeps its creation time, so run names are stable.
        ``created_at`` is the creation time to record for a new store (default: now).
        """
        target = Path(path)
        with translated(target):
            check_header(target)
            check_writable(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_rebuilds(target)  # a killed --rebuild-store's half-built store
            conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                switch_to_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                store = cls(target, conn)
            except BaseException:
                conn.close()
                raise
        created = (created_at or datetime.now()).astimezone().isoformat(timespec="seconds")
        defaults = {"created_at": created, "experiment": experiment, "metric": metric, "goal": goal,
                    "schema_version": SCHEMA_VERSION}
        try:
            with store.transaction() as tx:
                create_tables(tx, SCHEMA)
                check_version(tx, target)
                add_missing_columns(tx)
                tx.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", defaults.items())
        except BaseException:
            store.close()
            raise
        store._side_files = FileIdentity.of_side_files(target)
        return store

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> Store:
        """Open an existing store to read it and write nothing, not even beside it.

        For the commands that only read (``--summary``, ``--best``, ``--matrix``):
        they work on a read-only mount and leave no ``-wal``/``-shm`` behind. With a
        runner writing (its ``-wal`` is there) SQLite reads through that runner's
        files; otherwise the file is opened as immutable, which writes nothing.
        """
        target = Path(path)
        live = Path(f"{target}-wal").exists()
        uri = f"{target.resolve().as_uri()}?mode=ro" + ("" if live else "&immutable=1")
        with translated(target):
            check_header(target)
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("SELECT COUNT(*) FROM meta").fetchone()
                check_version(conn, target)
                return cls(target, conn)
            except BaseException:
                conn.close()
                raise

    @staticmethod
    def peek_created_at(path: str | os.PathLike[str]) -> datetime | None:
        """An existing store's creation time, read without creating or writing anything.

        None when there is no store yet, or it cannot be read without writing.
        """
        if not Path(path).is_file() or not os.access(path, os.R_OK | os.W_OK):
            return None  # a read-only store: Store.open says so in one line, before anything is written
        try:
            conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is taken at BEGIN, so a
        check-then-write inside it cannot race another process."""
        with self._lock, translated(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back a failed COMMIT itself
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    def create_tables(self, schema: str) -> None:
        """Run ``CREATE ... IF NOT EXISTS`` statements (``;``-separated) in one transaction;
        how a feature keeps its own tables in the experiment's store."""
        with self.transaction() as tx:
            create_tables(tx, schema)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read; no write lock is taken (WAL readers see the last commit)."""
        with self._lock, translated(self.path):
            cursor = self._conn.execute(sql, tuple(params))
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def check_file(self) -> None:
        """Raise :class:`StoreError` when the store file was deleted or replaced.

        SQLite keeps writing into an unlinked file through its open descriptor,
        so without this a run would "succeed" into a store nobody can read.
        """
        try:
            self._identity.check(self.path)
        except StoreError:
            self._drop_side_files()
            raise

    def _drop_side_files(self) -> None:
        """Unlink this connection's -wal and -shm from beside a path that holds another file now.

        SQLite finds them by name: left there, whoever opens the new file next
        (a summary, a rebuild, a run) would replay this run's pages into it. The
        connection keeps writing into them through its open descriptors.
        """
        for side, identity in self._side_files.items():
            with contextlib.suppress(OSError):
                if FileIdentity.of(side) == identity:
                    side.unlink()
        self._side_files = {}

    # -- meta ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    @property
    def created_at(self) -> datetime:
        """When the store was created: the matrix ``now``, so resumed run names match."""
        return datetime.fromisoformat(self.meta("created_at") or "")

    # -- writes -------------------------------------------------------------------------
    def register_cells(self, cells: Iterable[Cell]) -> None:
        """Remember cells; a cell already known keeps its first row but for repeat, seed, same_as and max_epochs.

        Which identical cell trains follows the latest plan (a selection that
        now includes the baseline makes an option that trained alone share it);
        repeat and seed follow from the id, and come back to a rebuilt store here.
        """
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        rows = [(c.cell_id, c.experiment, c.model, c.category, json.dumps(c.option, sort_keys=True),
                 c.option_label, c.run_name, c.project, c.group, c.config_path, now, c.repeat, c.seed,
                 c.same_as or None, c.max_epochs) for c in cells]
        with self.transaction() as tx:
            tx.executemany(
                'INSERT INTO cells (cell_id, experiment, model, category, option,'
                ' option_label, run_name, project, "group", config_path, created, repeat, seed, same_as,'
                " max_epochs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (cell_id) DO UPDATE SET repeat = excluded.repeat, seed = excluded.seed,"
                " same_as = excluded.same_as, max_epochs = excluded.max_epochs", rows)

    def claim(self, cell_id: str, *, session: str, rerun: str | None = None,
              output_dir_for: Callable[[int], str] | None = None,
              lease_s: float = DEFAULT_LEASE_S) -> AttemptRecord | None:
        """Atomically start the next attempt of a cell, or None when it must not run.

        A cell is claimable when no live runner is running it and: it never
        finished (plain resume), or its latest outcome was unsuccessful
        (``rerun="failed"``), or this ``session`` has not run it yet (``rerun="all"``).
        Stale running rows must be settled (:meth:`finish_attempt`) first.
        """
        with self.transaction() as tx:
            rows = tx.execute("SELECT attempt, status, session FROM attempts WHERE cell_id = ?"
                              " ORDER BY attempt", (cell_id,)).fetchall()
            if not claimable(rows, session, rerun):
                return None
            number = (rows[-1][0] if rows else 0) + 1
            return self._insert_attempt(tx, cell_id, number, session, lease_s, output_dir_for, None)

    def would_run(self, cell_ids: Iterable[str], rerun: str | None = None) -> set[str]:
        """The cells a run started now with ``rerun`` would claim: the claim's own rule, only read.

        An attempt left running by a dead runner counts as stopped, as the run
        settles it before claiming.
        """
        stale = {a.id for a in self.stale_attempts()}
        rows: dict[str, list[tuple[int, str, str | None]]] = {}
        for row in self.query("SELECT id, cell_id, attempt, status, session FROM attempts ORDER BY attempt"):
            status = Status.STOPPED.value if row["id"] in stale else row["status"]
            rows.setdefault(row["cell_id"], []).append((row["attempt"], status, row["session"]))
        return {c for c in cell_ids if claimable(rows.get(c, []), "", rerun)}

    def claim_retry(self, previous: AttemptRecord, *, overrides: list[Any] | None = None,
                    output_dir_for: Callable[[int], str] | None = None,
                    lease_s: float = DEFAULT_LEASE_S) -> AttemptRecord | None:
        """Start the retry of ``previous``, unless another runner took the cell since."""
        with self.transaction() as tx:
            latest = tx.execute("SELECT MAX(id) FROM attempts WHERE cell_id = ?",
                                (previous.cell_id,)).fetchone()[0]
            if latest != previous.id:
                return None
            return self._insert_attempt(tx, previous.cell_id, previous.attempt + 1, previous.session or "",
                                        lease_s, output_dir_for, overrides)

    def _insert_attempt(self, tx: sqlite3.Connection, cell_id: str, number: int, session: str,
                        lease_s: float, output_dir_for: Callable[[int], str] | None,
                        overrides: list[Any] | None) -> AttemptRecord:
        now = time.time()
        out = output_dir_for(number) if output_dir_for else None
        cursor = tx.execute(
            "INSERT INTO attempts (cell_id, attempt, status, started_at, runner_pid, runner_host,"
            " session, lease_expires, output_dir, overrides) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cell_id, number, Status.RUNNING.value, now, os.getpid(), HOST, session, now + lease_s,
             out, json.dumps(overrides) if overrides is not None else None))
        return AttemptRecord(id=int(cursor.lastrowid or 0), cell_id=cell_id, attempt=number,
                       status=Status.RUNNING.value, started_at=now, output_dir=out,
                       overrides=overrides, runner_pid=os.getpid(), runner_host=HOST,
                       session=session, lease_expires=now + lease_s)

    def update_attempt(self, attempt_id: int, **columns: Any) -> None:
        """Set some columns of an attempt (JSON columns are encoded here)."""
        if not columns:
            return
        sets, values = assignments(columns)
        with self.transaction() as tx:
            tx.execute(f"UPDATE attempts SET {sets} WHERE id = ?", (*values, attempt_id))

    def finish_attempt(self, attempt_id: int, status: Status | str, **columns: Any) -> bool:
        """Record the outcome of a running attempt; False when it was no longer running.

        The ``status = 'running'`` guard makes finishing idempotent: a stale row
        settled by one runner is not overwritten by another.
        """
        columns.setdefault("ended_at", time.time())
        sets, values = assignments(columns)
        with self.transaction() as tx:
            started = tx.execute("SELECT started_at FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
            if "duration_s" not in columns and started and started[0] is not None:
                sets += ", duration_s = ?"
                values.append(max(0.0, float(columns["ended_at"]) - float(started[0])))
            cursor = tx.execute(f"UPDATE attempts SET status = ?, {sets} WHERE id = ? AND status = ?",
                                (Status(status).value, *values, attempt_id, Status.RUNNING.value))
            return cursor.rowcount == 1

    def add_epochs(self, attempt_id: int, records: Iterable[Mapping[str, Any]], start_seq: int = 0) -> int:
        """Copy metrics.jsonl lines (numbered from ``start_seq``); returns how many were new."""
        rows = [(attempt_id, start_seq + i, int_or_none(r.get("epoch")), int_or_none(r.get("step")),
                 json.dumps(dict(r), sort_keys=True)) for i, r in enumerate(records)]
        if not rows:
            return 0
        with self.transaction() as tx:
            before = tx.total_changes
            tx.executemany("INSERT OR IGNORE INTO epochs (attempt_id, seq, epoch, step, metrics)"
                           " VALUES (?, ?, ?, ?, ?)", rows)
            return tx.total_changes - before

    def renew_leases(self, session: str, lease_s: float = DEFAULT_LEASE_S) -> None:
        """Keep this session's running attempts from looking stale to other runners."""
        with self.transaction() as tx:
            tx.execute("UPDATE attempts SET lease_expires = ? WHERE session = ? AND status = ?",
                       (time.time() + lease_s, session, Status.RUNNING.value))

    # -- reads --------------------------------------------------------------------------
    def stale_attempts(self) -> list[AttemptRecord]:
        """Running attempts whose runner is dead here, or whose lease ran out."""
        now = time.time()
        stale = []
        for attempt in self._attempts("WHERE status = ?", (Status.RUNNING.value,)):
            dead_here = attempt.runner_host == HOST and not pid_alive(attempt.runner_pid or -1)
            expired = attempt.lease_expires is not None and attempt.lease_expires < now
            if dead_here or expired:
                stale.append(attempt)
        return stale

    def attempts(self, cell_id: str | None = None) -> list[AttemptRecord]:
        """Attempts in insertion order, of one cell or of all."""
        if cell_id is None:
            return self._attempts("", ())
        return self._attempts("WHERE cell_id = ?", (cell_id,))

    def attempt(self, attempt_id: int) -> AttemptRecord | None:
        """One attempt by its row id (None when there is no such row)."""
        found = self._attempts("WHERE id = ?", (attempt_id,))
        return found[0] if found else None

    def _attempts(self, where: str, params: tuple[Any, ...]) -> list[AttemptRecord]:
        rows = self.query(f"SELECT * FROM attempts {where} ORDER BY id", params)
        return [attempt_from_row(row) for row in rows]

    def cells(self) -> list[CellRecord]:
        """Every cell as stored (no attempts yet: ``report.gather`` adds them)."""
        rows = self.query("SELECT * FROM cells ORDER BY model, category, run_name")
        # a store made before repeats or shared cells, opened read-only, lacks their columns
        return [CellRecord(stored_cell({**dict(row), "option": json.loads(row["option"]) if row["option"] else None}),
                           created=row["created"]) for row in rows]

    def cell_results(self) -> list[CellResult]:
        """Every cell with its latest attempt and its best attempt by the store's goal."""
        by_cell: dict[str, list[AttemptRecord]] = {}
        for attempt in self.attempts():
            by_cell.setdefault(attempt.cell_id, []).append(attempt)
        goal = Goal.read(self.meta("goal"))
        results = []
        for record in self.cells():
            tries = by_cell.get(record.cell.cell_id, [])
            scored = [a for a in tries if a.best_metric is not None]
            best = goal.best(scored, key=lambda a: a.best_metric) if scored else None
            results.append(CellResult(record.cell, tries[-1] if tries else None, best, len(tries)))
        return results

    def epochs(self, attempt_id: int) -> list[EpochRow]:
        rows = self.query("SELECT * FROM epochs WHERE attempt_id = ? ORDER BY seq", (attempt_id,))
        return [EpochRow(row["attempt_id"], row["seq"], row["epoch"], row["step"], json.loads(row["metrics"]))
                for row in rows]

    def durations_by_model(self) -> dict[str, list[float]]:
        """Wall times of finished successful attempts per model, for ETAs."""
        rows = self.query(
            "SELECT c.model, a.duration_s FROM attempts a JOIN cells c USING (cell_id)"
            " WHERE a.status IN (?, ?) AND a.duration_s IS NOT NULL ORDER BY a.id",
            (Status.COMPLETED.value, Status.EARLY_TERMINATED.value))
        out: dict[str, list[float]] = {}
        for row in rows:
            out.setdefault(row["model"], []).append(float(row["duration_s"]))
        return out
