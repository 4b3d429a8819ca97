"""The record of a cell the store keeps and the report reads: one shape for both.

:class:`CellRecord` wraps the planned ``Cell`` (the one cell shape of the
planner, the store and the report; read back from the store, its stored fields)
with what its runs added (:class:`AttemptRecord` s with their evaluations, the
epochs the newest one ran for, the sweep trial that made it). :class:`AttemptRecord` is the
one shape of an attempt: the runner's outcome, the store's row, the report's
line and ``attempt.json`` are all it. Plain frozen data: no SQLite, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperparameter_system.matrix.cell import Cell

INTERRUPTED = "interrupted"  # a running attempt whose runner died; not a child status


@dataclass(frozen=True)
class EpochPoint:
    """One evaluation of one attempt, as the child appended it to metrics.jsonl."""

    epoch: int
    metrics: dict[str, float]

    def as_line(self) -> dict[str, float | int]:
        """The evaluation as a metrics.jsonl line (``epoch`` first): what the store's epochs table keeps."""
        return {"epoch": self.epoch, **self.metrics}


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a cell: what the runner read when it ended, the store keeps, and the report shows.

    The runner's outcome reader fills the outcome fields, ``Store.attempts()``
    hands back every column, the report's reading adds ``history`` (the newest
    attempt's evaluations), ``env`` and ``cwd``; ``attempt.json`` is a named
    subset of it (``attempt_file``). Times are POSIX seconds; ``ended_at`` is None
    while the attempt runs.

    Attributes:
        status: A ``child_contract.Status`` (a str enum) when the runner decided
            it, its text when read back; the report may say :data:`INTERRUPTED`.
        result: The child's result.json as a dict (None without a valid one).
        final_metric: The last value of ``metric`` (the outcome reader's; not stored).
        problem: A child file that broke the contract, which failed the attempt
            (the outcome reader's; its error tail starts with it).
    """

    attempt: int
    status: str
    id: int = 0  # the store's row id (0: not stored)
    cell_id: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    command: tuple[str, ...] = ()
    overrides: list[Any] | None = None  # a retry's own KEY VALUE pairs
    output_dir: str | None = None
    log_path: str | None = None
    wandb_run_id: str | None = None  # the id handed to the child
    wandb_run_dir: str | None = None
    metric: str | None = None  # the metric best_metric is of (None = unknown)
    best_metric: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    final_metric: float | None = None
    error_tail: str | None = None  # the headline, then the log's last lines
    result: dict[str, Any] | None = None
    problem: str | None = None
    history: tuple[EpochPoint, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # the launch variables that decide the numbers
    cwd: str = ""  # the folder the child started in
    runner_pid: int | None = None
    runner_host: str | None = None
    session: str | None = None
    lease_expires: float | None = None
    child_pid: int | None = None
    node: str | None = None  # the machine (or Ray node) the child ran on

    @property
    def error(self) -> str:
        """What went wrong in one text: the child's own error line, else the runner's error tail."""
        return str((self.result or {}).get("error") or self.error_tail or "").strip()


@dataclass(frozen=True)
class SweepTrial:
    """The trial of a sweep that made a cell: reports group trials per sweep, not per category."""

    sweep_id: str
    trial: int
    params: dict[str, Any]  # the sampled point as the sweep chose it (nested as sampled)


@dataclass(frozen=True)
class CellRecord:
    """A cell as the store keeps it: the planned :class:`Cell`, plus what its runs added.

    A wrapper, not a second shape of the cell: ``cell`` is the one shape the
    planner, the store and the report share (read back from the store it holds
    the stored fields only, see :class:`Cell`), and every field here is
    something the plan did not know. ``Store.cells()`` hands it out with no
    attempts; the report's reading fills ``attempts`` (oldest first),
    ``max_epochs_run`` and ``sweep``.
    """

    cell: Cell
    created: str = ""  # when the store first saw the cell (ISO time)
    attempts: tuple[AttemptRecord, ...] = ()
    sweep: SweepTrial | None = None  # set when a sweep's trial made this cell
    # SOLVER.MAX_EPOCHS the newest attempt ran with: the cell's planned max_epochs unless its
    # command line overrode it (a retry's own overrides among them); None when neither says.
    max_epochs_run: int | None = None

    @property
    def latest(self) -> AttemptRecord | None:
        """The attempt that decides the cell's status (the newest one)."""
        return self.attempts[-1] if self.attempts else None
