"""The answer of an experiment: summaries, exports, the HTML report and the best cell.

Everything is read from the results store alone, so it works while a matrix
runs, after a crash, and on another machine that only has the output folder.

Public API:
    load_summary(output_dir, experiment, *, metric, goal, hint, wandb_entity) -> ExperimentSummary
    build_summary(cells, *, experiment, metric, goal, ...) -> ExperimentSummary
    render(summary, fmt) -> str               fmt: table | csv | json | md | html
    find_best(summary, model=None) -> CellSummary
    render_best(summary, cell) -> str
    render_best_json(summary) -> str          the best cell of each model, as JSON
    write_text_atomic(path, text)
"""

from __future__ import annotations

from typing import Sequence

from hyperparameter_system.files.atomic import write_text_atomic
from hyperparameter_system.report.best import find_best, render_best, render_best_json
from hyperparameter_system.report.records import CellSummary, ExperimentSummary, ModelSummary
from hyperparameter_system.report.summary import build_summary, require_known

FORMATS = ("table", "csv", "json", "md", "html")

__all__ = [
    "FORMATS", "CellSummary", "ExperimentSummary", "ModelSummary", "build_summary", "find_best",
    "load_summary", "render", "render_best", "render_best_json", "write_text_atomic",
]


def load_summary(output_dir: str, experiment: str, *, metric: str, goal: str,
                 hint: str = "the matrix", wandb_entity: str = "",
                 models: Sequence[str] | None = None,
                 categories: Sequence[str] | None = None,
                 models_flag: str = "--models") -> ExperimentSummary:
    """Read the experiment's store and judge every cell.

    Args:
        models: Only these models (each must have cells in the store).
        categories: Only these categories (each must have cells in the store);
            baselines are kept, since deltas need them.
        models_flag: The flag that named ``models``, for the error message.

    Raises:
        NoResultsError: when the experiment has no store yet.
        HpsysError: for a model or category the store has no cells of (the
            known ones listed).
    """
    from hyperparameter_system.report.gather import open_store, read_cells

    store = open_store(output_dir, experiment, hint)
    try:
        cells = read_cells(store)
    finally:
        store.close()
    require_known(models_flag, "model", models or (),
                  list(dict.fromkeys(c.cell.model for c in cells)), experiment)
    require_known("--categories", "category", categories or (),
                  list(dict.fromkeys(c.cell.category for c in cells)), experiment)
    cells = [c for c in cells if (not models or c.cell.model in models)
             and (not categories or c.cell.category in ("baseline", *categories))]
    return build_summary(cells, experiment=experiment, metric=metric, goal=goal,
                         store_path=str(store.path), wandb_entity=wandb_entity)


def render(summary: ExperimentSummary, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """The summary in one of :data:`FORMATS`."""
    if fmt == "table":
        from hyperparameter_system.report.text import render_table

        return render_table(summary, color=color, width=width)
    if fmt == "md":
        from hyperparameter_system.report.text import render_markdown

        return render_markdown(summary)
    if fmt == "json":
        from hyperparameter_system.report.export import render_json

        return render_json(summary)
    if fmt == "csv":
        from hyperparameter_system.report.export import render_csv

        return render_csv(summary)
    if fmt == "html":
        from hyperparameter_system.report.html import render_html

        return render_html(summary)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
