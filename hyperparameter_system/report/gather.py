"""Read an experiment's results store into report records, never needing a runner.

The store is read exactly as it is on disk: while a matrix runs (running and
pending cells show as such, running ones with their epochs so far) and after a
crash. An attempt still marked ``running`` whose runner is gone (the store's
own staleness rule: dead pid on this host, or an expired lease) is reported as
``interrupted``: its work so far is shown, and the next resume runs it again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from typing import Any, Sequence

from hyperparameter_system.child_contract import ChildFileError, check_result
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.report.records import INTERRUPTED, AttemptRecord, CellRecord, EpochPoint, SweepTrial
from hyperparameter_system.store import Store, StoreError, store_path
from hyperparameter_system.store.launch_env import read_launches


class NoResultsError(HpsysError):
    """The experiment has no store yet: nothing has run."""


def open_store(output_dir: str, experiment: str, hint: str) -> Store:
    """Open an existing store; never create one (a summary must not write a store).

    Args:
        output_dir: The experiment's ``output_dir``.
        experiment: Experiment name.
        hint: The command that would fill the store, for the error message.

    Raises:
        NoResultsError: when the store file does not exist.
        HpsysError: when the file is not an SQLite store (damaged, or another file).
    """
    path = store_path(output_dir, experiment)
    if not path.is_file():
        if next(path.parent.glob("*/*/attempt-*"), None) is not None:  # the layout --rebuild-store reads
            hint = f"`hpsys --rebuild-store` to make it again from the attempt folders there, or {hint}"
        raise NoResultsError(
            f"no results yet for experiment {experiment} (looked in {path}); run {hint} first")
    try:
        return Store.open_readonly(path)  # a summary writes nothing, and works on a read-only mount
    except StoreError as error:
        if "no such table" not in str(error.__cause__):
            raise
        # A runner has just made the file and not yet its tables: nothing to show yet.
        raise NoResultsError(f"no results yet for experiment {experiment} (its store {path} "
                             f"is being created); try again in a moment") from None
    except sqlite3.DatabaseError as error:
        raise HpsysError(f"{path}: not a readable results store ({error})") from None


def read_cells(store: Store) -> list[CellRecord]:
    """Every cell of the store with all its attempts and the newest attempt's history."""
    stale = {a.id for a in store.stale_attempts()}
    launches = read_launches(store)
    trials = _sweep_trials(store)
    by_cell: dict[str, list[AttemptRecord]] = {}
    for attempt in store.attempts():
        by_cell.setdefault(attempt.cell_id, []).append(attempt)
    records = []
    for row in store.cells():
        cell = row.cell
        tries = sorted(by_cell.get(cell.cell_id, []), key=lambda a: a.attempt)
        attempts = tuple(
            _launched(_attempt_record(store, a, stale, with_history=(i == len(tries) - 1)), launches.get(a.id))
            for i, a in enumerate(tries))
        records.append(dataclasses.replace(
            row, attempts=attempts, max_epochs_run=_max_epochs(cell.max_epochs, tries[-1] if tries else None),
            sweep=trials.get(cell.cell_id)))
    return _shared_results(records)


def _sweep_trials(store: Store) -> dict[str, SweepTrial]:
    """The sweep trial behind each cell a sweep made ({} for a store no sweep has touched).

    Read with plain SQL: the sweep's own state class creates its tables, and a
    summary writes nothing.
    """
    if not store.query("SELECT 1 FROM sqlite_master WHERE name = 'sweep_trials'"):  # a view, or an old table
        return {}
    trials = {}
    for row in store.query("SELECT sweep_id, trial, cell_id, params FROM sweep_trials WHERE cell_id != ''"):
        try:
            params = json.loads(row["params"])
        except (TypeError, ValueError):
            params = None
        trials[row["cell_id"]] = SweepTrial(sweep_id=str(row["sweep_id"]), trial=int(row["trial"]),
                                            params=params if isinstance(params, dict) else {})
    return trials


def _launched(record: AttemptRecord, launch: tuple[dict[str, str], str] | None) -> AttemptRecord:
    """The attempt with the environment and folder it was launched in (what reproduces it)."""
    if launch is None:
        return record
    return dataclasses.replace(record, env=tuple(sorted(launch[0].items())), cwd=launch[1])


def _attempt_record(store: Store, attempt: AttemptRecord, stale: set[int], *,
                    with_history: bool) -> AttemptRecord:
    """The stored attempt as the report shows it: history only for the newest (what plots show),
    ``interrupted`` when its runner is gone, its result checked and a NaN best dropped."""
    history: tuple[EpochPoint, ...] = ()
    if with_history:
        history = tuple(
            EpochPoint(epoch=int(e.epoch if e.epoch is not None else e.seq + 1),
                       metrics={k: float(v) for k, v in e.metrics.items() if _is_number(v)})
            for e in store.epochs(attempt.id))
    return dataclasses.replace(
        attempt, status=INTERRUPTED if attempt.id in stale else attempt.status, history=history,
        best_metric=attempt.best_metric if _is_number(attempt.best_metric) else None,
        result=_stored_result(attempt))


def _stored_result(attempt: AttemptRecord) -> dict[str, Any] | None:
    """The result a store kept, checked like a fresh result.json (None when absent or broken)."""
    if attempt.result is None:
        return None
    try:
        return check_result(attempt.result, f"stored result of attempt {attempt.attempt}").to_dict()
    except ChildFileError:
        return None


def _is_number(value: Any) -> bool:
    """A finite int or float: NaN from a diverged run must not rank or reach JSON."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _max_epochs(planned: int | None, attempt: AttemptRecord | None) -> int | None:
    """SOLVER.MAX_EPOCHS the attempt ran with: as planned (the store's cell row), then command-line overrides.

    The runner may pass ``KEY VALUE`` pairs after the config (a retry's own
    overrides among them), so the last ``SOLVER.MAX_EPOCHS`` on the command line wins.
    """
    value = planned
    argv: Sequence[Any] = (attempt.command or []) if attempt else []
    for i, token in enumerate(argv[:-1]):
        if token == "SOLVER.MAX_EPOCHS":
            try:
                value = int(argv[i + 1])
            except (TypeError, ValueError):
                pass
    return value


def _shared_results(records: list[CellRecord]) -> list[CellRecord]:
    """A shared cell shows the training of the identical cell it points to (attempts, history, epochs).

    Its ``same_as`` stays set, so a summary counts that compute once; a target
    missing from the store leaves the cell as it is.
    """
    by_id = {r.cell.cell_id: r for r in records}
    return [dataclasses.replace(r, attempts=by_id[r.cell.same_as].attempts,
                                max_epochs_run=by_id[r.cell.same_as].max_epochs_run)
            if r.cell.same_as in by_id else r for r in records]

