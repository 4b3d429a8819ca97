"""``--rebuild-store``: make the results store again from the attempt folders on disk.

    hpsys --rebuild-store [--config FILE]

Every attempt folder ``<output_dir>/<experiment>/<project>/<run_name>/attempt-<n>/``
holds ``attempt.json`` (written by the runner at launch and completed when the
attempt ends), ``result.json`` and ``metrics.jsonl`` from the child. From them
the store's cells, attempts and epochs are rebuilt, so results that exist on
disk are never lost with the store. An attempt that never ended (no outcome in
its record and no result) comes back ``stopped``: the next run resumes it.

What cannot come back: cells that were planned but never launched (the next
run registers them again) and a sweep's own tables (its trials' attempts do
come back when their folders lie under the experiment's folder).

The store is built beside the target and moved into place in one rename; a
readable store is never overwritten, a damaged one is kept under a new name.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import Status
from hyperparameter_system.runner import CHILD_LOG, read_outcome, record_outcome
from hyperparameter_system.store import (
    AttemptRecord, CellRecord, Store, StoreError, rebuild_path, remove_stale_rebuilds, store_path)
from hyperparameter_system.store.attempt_file import ATTEMPT_FILE, OUTCOME_KEYS, read_attempt_file
from hyperparameter_system.store.errors import check_header, translated
from hyperparameter_system.store.launch_env import record_launch

_SIDE_FILES = ("-wal", "-shm")  # SQLite's companions of a WAL database


@dataclasses.dataclass
class RebuildReport:
    """What a rebuild found and made."""

    path: Path
    cells: int = 0
    attempts: int = 0
    skipped: list[str] = dataclasses.field(default_factory=list)  # one reason per unusable folder
    kept_as: Path | None = None  # where a damaged store was moved


def main(args: argparse.Namespace) -> int:
    """Rebuild the experiment's store and say what came back."""
    from hyperparameter_system.config.experiment import load_experiment

    spec = load_experiment(args.config)
    report = rebuild_store(Path(spec.output_dir), spec.name, metric=spec.metric, goal=spec.goal)
    if report.kept_as:
        print(f"the damaged store was kept as {report.kept_as}")
    for reason in report.skipped:
        print(f"skipped {reason}")
    print(f"rebuilt {report.path}: {report.cells} cell(s), {report.attempts} attempt(s)"
          f" from the attempt folders; {len(report.skipped)} folder(s) skipped", flush=True)
    return 0


def rebuild_store(output_dir: Path, experiment: str, *, metric: str, goal: str) -> RebuildReport:
    """Build ``results.sqlite`` from the attempt folders under ``output_dir/experiment``.

    Raises:
        StoreError: when a readable store is already there, or no folder holds a record.
    """
    path = store_path(output_dir, experiment)
    remove_stale_rebuilds(path)
    _refuse_readable(path)
    report = RebuildReport(path)
    records = _records(path.parent, report)
    if not records:
        raise StoreError(f"{path.parent}: no attempt folder holds a readable {ATTEMPT_FILE} to rebuild"
                         f" from (looked for <project>/<run_name>/attempt-<n>/{ATTEMPT_FILE})")
    _check_folder_writable(path.parent)
    tmp = rebuild_path(path, os.getpid())
    created = min(record.created for record, _ in records)  # the store creation time each file names
    try:
        with translated(path.parent):  # a read-only or full folder: one line naming it
            _remove_with_side_files(tmp)
            with Store.open(tmp, experiment=experiment, metric=metric, goal=goal,
                            created_at=datetime.fromisoformat(created)) as store:
                for item in sorted(records, key=lambda r: (r[1].started_at or 0.0, r[1].attempt)):
                    _add(store, item, metric=metric, goal=goal)
                report.cells = len(store.cells())
                report.attempts = len(store.attempts())
        with translated(path):
            report.kept_as = _move_aside(path)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            _remove_with_side_files(tmp)
        raise
    return report


def _check_folder_writable(folder: Path) -> None:
    """The store is built beside its place: a read-only folder is one line, before anything starts."""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError as error:
        raise StoreError(f"{folder}: cannot rebuild the store there ({error.strerror or error})") from None
    if read_only or not os.access(folder, os.W_OK):
        cause = "read-only file system" if read_only else "no write permission"
        raise StoreError(f"{folder}: cannot rebuild the store there ({cause})")


def _refuse_readable(path: Path) -> None:
    if not path.is_file():
        return
    try:
        check_header(path)
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("SELECT COUNT(*) FROM attempts").fetchone()
        finally:
            conn.close()
    except (sqlite3.Error, StoreError):
        return  # damaged: it is moved aside, not overwritten
    raise StoreError(f"{path}: the store is readable; nothing to rebuild (move it away first to rebuild it)")


def _records(root: Path, report: RebuildReport) -> list[tuple[CellRecord, AttemptRecord]]:
    found = []
    for folder in sorted(root.glob("*/*/attempt-*")):
        if not folder.is_dir():
            continue
        item = read_attempt_file(folder)
        if isinstance(item, str):
            report.skipped.append(item)
        else:
            found.append(item)
    return found


def _add(store: Store, item: tuple[CellRecord, AttemptRecord], *, metric: str, goal: str) -> None:
    """One attempt folder into the store: its cell, its attempt row, its epochs."""
    cell, saved = item
    attempt_id = _insert(store, cell, saved)
    if attempt_id is None:
        return  # the same cell and try twice (a copied folder): the first one counts
    folder = Path(saved.output_dir or "")
    log = Path(saved.log_path) if saved.log_path else folder / CHILD_LOG
    out = read_outcome(folder, log, saved.exit_code, metric=metric, goal=goal)
    extra: dict[str, object] = {"ended_at": _mtime(folder)}
    if saved.status != Status.RUNNING.value:  # the outcome the runner recorded: the store row as it was
        kept = {k: getattr(saved, k) for k in OUTCOME_KEYS if k not in _SET_APART}
        out = dataclasses.replace(out, **{k: v for k, v in kept.items() if v is not None},
                                  status=_status(saved.status, Status(out.status)))
        extra.update({k: getattr(saved, k) for k in ("ended_at", "duration_s", "node")
                      if getattr(saved, k) is not None})
    elif out.result is None:
        out = dataclasses.replace(out, status=Status.STOPPED,
                                  error_tail="no result on disk: the attempt was interrupted (store rebuilt)")
    store.add_epochs(attempt_id, _metrics(folder) or [p.as_line() for p in out.history])
    record_outcome(store, attempt_id, out, **extra)
    if saved.cwd:  # a folder from before launch environments were kept has none
        record_launch(store, attempt_id, dict(saved.env), saved.cwd)


# The outcome fields the rebuilt row takes otherwise: the status checked, times as columns, the exit code read.
_SET_APART = ("status", "ended_at", "duration_s", "exit_code")


def _insert(store: Store, record: CellRecord, saved: AttemptRecord) -> int | None:
    """The cell row (once) and a ``running`` row of the ``saved`` attempt, for its outcome; None if known."""
    cell = record.cell
    with store.transaction() as tx:
        tx.execute('INSERT OR IGNORE INTO cells (cell_id, experiment, model, category, option, option_label,'
                   ' run_name, project, "group", config_path, created, repeat, seed, max_epochs)'
                   ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                   (cell.cell_id, cell.experiment, cell.model, cell.category,
                    json.dumps(cell.option, sort_keys=True), cell.option_label, cell.run_name,
                    cell.project, cell.group, cell.config_path, record.created, cell.repeat, cell.seed,
                    cell.max_epochs))
        cursor = tx.execute(
            "INSERT OR IGNORE INTO attempts (cell_id, attempt, status, started_at, command, overrides,"
            " output_dir, log_path, wandb_run_id, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cell.cell_id, saved.attempt, Status.RUNNING.value, saved.started_at,
             json.dumps(list(saved.command)) if saved.command else None, _json_or_none(saved.overrides),
             saved.output_dir, saved.log_path, saved.wandb_run_id, saved.session))
        return int(cursor.lastrowid or 0) if cursor.rowcount else None


def _json_or_none(value: object) -> str | None:
    return json.dumps(value) if isinstance(value, list) else None


def _metrics(folder: Path) -> list[dict[str, object]]:
    """The validated metrics.jsonl lines (up to the first bad one, as the runner copies them)."""
    return list(cc.read_metrics(folder / cc.METRICS_FILE).records)


def _mtime(folder: Path) -> float:
    """When the attempt last wrote anything: its end, as near as the disk knows."""
    times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()]
    return max(times, default=time.time())


def _status(text: str, fallback: Status) -> Status:
    try:
        return Status(text)
    except ValueError:
        return fallback


def _move_aside(path: Path) -> Path | None:
    """Keep a damaged store (and its side files) under a new name; None when there was none."""
    if not path.exists():
        _remove_with_side_files(path)  # side files of a deleted store would be replayed into the new one
        return None
    kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", *_SIDE_FILES):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{kept}{suffix}")
    return kept


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
