"""The record of a cell the store keeps and the report reads: one shape for both.

:class:`CellRecord` is the stored part of a planned ``Cell`` (identity, option,
names, seed, sharing) plus what its runs added (:class:`AttemptRecord` s with
their evaluations, the sweep trial that made it). Plain frozen data: no SQLite,
no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTERRUPTED = "interrupted"  # a running attempt whose runner died; not a child status


@dataclass(frozen=True)
class EpochPoint:
    """One evaluation of one attempt, as the child appended it to metrics.jsonl."""

    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a cell, as the store keeps it.

    Times are POSIX seconds; ``ended_at`` is None while the attempt runs.
    """

    attempt: int
    status: str
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    metric_name: str = ""  # the metric best_metric is of ("" = unknown)
    best_metric: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    command: tuple[str, ...] = ()
    output_dir: str = ""
    wandb_run_id: str = ""
    wandb_run_dir: str = ""
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    history: tuple[EpochPoint, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # the launch variables that decide the numbers
    cwd: str = ""  # the folder the child started in


@dataclass(frozen=True)
class SweepTrial:
    """The trial of a sweep that made a cell: reports group trials per sweep, not per category."""

    sweep_id: str
    trial: int
    params: dict[str, Any]  # the sampled point as the sweep chose it (nested as sampled)


@dataclass(frozen=True)
class CellRecord:
    """A cell as the store keeps it: the stored part of the planned Cell, and what its runs added.

    ``Store.cells()`` hands it out with no attempts; the report's reading fills
    ``attempts`` (oldest first), ``max_epochs`` and ``sweep``.
    """

    cell_id: str
    model: str
    category: str
    option: Any
    option_label: str
    run_name: str
    project: str
    config_path: str
    experiment: str = ""
    group: str = ""  # the W&B group
    created: str = ""  # when the store first saw the cell (ISO time)
    attempts: tuple[AttemptRecord, ...] = ()
    max_epochs: int | None = None  # SOLVER.MAX_EPOCHS of the rendered config, if readable
    sweep: SweepTrial | None = None  # set when a sweep's trial made this cell
    repeat: int = 0  # which training of its option (seed = the model's seed + repeat)
    seed: int | None = None
    # The id of the identical cell whose training this one shows ("" = its own); its
    # attempts are that cell's, so count their compute once.
    same_as: str = ""

    @property
    def latest(self) -> AttemptRecord | None:
        """The attempt that decides the cell's status (the newest one)."""
        return self.attempts[-1] if self.attempts else None
