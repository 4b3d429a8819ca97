"""The report's own view of a results store: plain frozen data, no SQLite, no torch.

``gather`` turns store rows into :class:`CellRecord` s (what happened), and
``summary`` turns those into :class:`ExperimentSummary` (what it means: deltas,
winners, compute). Keeping the two apart lets every output format, the HTML
report and ``--best`` share one set of numbers, and lets the ranking logic be
tested without a store.
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
    """A cell of the matrix with every attempt made so far (oldest first)."""

    cell_id: str
    model: str
    category: str
    option: Any
    option_label: str
    run_name: str
    project: str
    config_path: str
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


@dataclass(frozen=True)
class CellSummary:
    """One row of the summary: a cell judged against its model's baseline.

    Attributes:
        metric: The cell's best value of the experiment metric (best so far
            while it runs), or None when no evaluation happened.
        delta: ``metric - baseline metric`` (raw; for a minimized metric a
            negative delta is an improvement), None without both values.
        compute_s: Wall seconds spent on every attempt of the cell.
        saved_s: Cell-seconds early stopping saved: epochs not run (against
            SOLVER.MAX_EPOCHS) times the measured seconds per epoch, only for
            a run that stopped early by its own report.

    A row stands for every repeat of one option: ``metric`` is the mean of the
    finished repeats' best values (the value so far while none has finished),
    ``n`` how many finished, and ``ci95`` / ``p_value`` / ``significant`` come
    from Welch's t-test of those values against the baseline's (``stats``).
    """

    record: CellRecord
    status: str
    metric: float | None
    best_epoch: int | None
    epochs_run: int | None
    max_epochs: int | None
    duration_s: float | None
    delta: float | None
    compute_s: float
    saved_s: float
    is_best_in_category: bool = False  # the category's best mean (a winner only if significant)
    is_best_of_model: bool = False
    n: int = 0  # finished repeats whose best value counts
    metric_std: float | None = None  # sample std (n - 1) over those repeats
    ci95: tuple[float, float] | None = None  # 95 % interval of delta; None below n = 2
    p_value: float | None = None
    significant: bool | None = None  # better than the baseline beyond noise; None: untested
    same_as: str = ""  # label of the row whose training this one shares ("" trains itself)
    shared_saved_s: float = 0.0  # seconds of the shared target's runs not spent again
    repeats: tuple["CellSummary", ...] = ()  # one row per repeat (each n <= 1), repeat order

    @property
    def cell_id(self) -> str:
        return self.record.cell_id

    @property
    def category(self) -> str:
        return self.record.category

    @property
    def option_label(self) -> str:
        return self.record.option_label


@dataclass(frozen=True)
class ModelSummary:
    """Every cell of one model, its baseline, its winners and its status counts."""

    model: str
    project: str
    cells: tuple[CellSummary, ...]
    baseline: CellSummary | None
    best: CellSummary | None
    best_by_category: dict[str, CellSummary]
    status_counts: dict[str, int]
    shared_saved_s: float = 0.0  # compute not spent again by cells sharing a training

    @property
    def categories(self) -> list[str]:
        """Categories in the order their cells appear (baseline excluded)."""
        seen: list[str] = []
        for cell in self.cells:
            if cell.record.category != "baseline" and cell.record.category not in seen:
                seen.append(cell.record.category)
        return seen


@dataclass(frozen=True)
class ExperimentSummary:
    """The whole answer for one experiment, straight from its store."""

    experiment: str
    metric: str
    goal: str
    store_path: str
    generated_at: float
    models: tuple[ModelSummary, ...]
    status_counts: dict[str, int]
    compute_s: float
    saved_s: float
    wandb_entity: str = ""
    shared_saved_s: float = 0.0
