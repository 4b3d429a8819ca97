"""The report's own view of a results store: plain frozen data, no SQLite, no torch.

``gather`` fills the store's :class:`CellRecord` s (what happened: the planned
``Cell`` each wraps, its attempts, the epochs its newest one ran for), and
``summary`` turns those into :class:`ExperimentSummary` (what it means: deltas,
winners, compute). Keeping the two apart lets every output format, the HTML
report and ``--best`` share one set of numbers, and lets the ranking logic be
tested without a store.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperparameter_system.store.records import (  # re-exported: the record the report reads is the store's
    INTERRUPTED, AttemptRecord, CellRecord, EpochPoint, SweepTrial)

__all__ = ["INTERRUPTED", "AttemptRecord", "CellRecord", "CellSummary", "EpochPoint", "ExperimentSummary",
           "ModelSummary", "SweepTrial"]


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
        return self.record.cell.cell_id

    @property
    def category(self) -> str:
        return self.record.cell.category

    @property
    def option_label(self) -> str:
        return self.record.cell.option_label


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
            if cell.category != "baseline" and cell.category not in seen:
                seen.append(cell.category)
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
