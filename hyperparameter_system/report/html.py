"""The HTML report: one self-contained file (styles inline, plots base64 PNG).

It has to open from an e-mail attachment or a laptop with no network, so it
links nothing: no CDN, no external image. The template (``html_template``) is
autoescaped, since option labels and error texts come from users' files.
Matrix cells and sweep trials are shown apart: each sweep gets its own section
(trial table, parameter scatter, curves), so 300 trials never flood the
matrix's table, heatmap or curves.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

import hyperparameter_system.report.fmt as fmt
import hyperparameter_system.report.plots as plots
import hyperparameter_system.report.sweep_plots as sweep_plots
from hyperparameter_system.matrix.naming import format_number
from hyperparameter_system.report.html_template import TEMPLATE
from hyperparameter_system.report.links import reproduce_command, wandb_reference
from hyperparameter_system.report.records import CellSummary, ExperimentSummary, ModelSummary
from hyperparameter_system.report.summary import FINISHED


def _model_context(model: ModelSummary, s: ExperimentSummary) -> dict[str, Any]:
    """Everything the template shows for one model, pre-formatted."""
    matrix = [c for c in model.cells if c.record.sweep is None]
    shown = fmt.columns(s)
    rows = [{
        "cell_id": c.cell_id,
        "cells": list(zip(shown, fmt.table_row(c, shown))),
        "best_model": c.is_best_of_model,
        "wandb": wandb_reference(c.record, s.wandb_entity),
    } for c in matrix]
    by_category = [(cat, [c for c in matrix if c.category == cat])
                   for cat in dict.fromkeys(c.category for c in matrix if c is not model.baseline)]
    by_category = [(cat, cells) for cat, cells in by_category if cells]
    curves = []
    for category, cells in by_category:
        png = plots.learning_curves(cells, model.baseline, metric=s.metric, goal=s.goal,
                                    title=f"{model.model}: {category}")
        if png:
            curves.append({"category": category, "png": png})
    return {
        "name": model.model, "project": model.project, "counts": fmt.counts(model.status_counts),
        "rows": rows, "best": _best_context(model.best, s),
        "problems": fmt.problems(dataclasses.replace(model, cells=tuple(matrix))),
        "heatmap": plots.heatmap(by_category, f"{model.model}: {s.metric} vs baseline", s.goal),
        "spread": plots.spread(by_category, model.baseline, metric=s.metric,
                               title=f"{model.model}: {s.metric} per option"),
        "curves": curves, "sweeps": _sweeps_context(model, s),
        "compute": fmt.compute_line(sum(c.compute_s for c in model.cells),
                                    sum(c.saved_s for c in model.cells),
                                    model.shared_saved_s).capitalize(),
    }


def _best_context(b: CellSummary | None, s: ExperimentSummary) -> dict[str, Any] | None:
    """The model's best cell: numbers, config, the command that reproduces it, its W&B run."""
    if b is None:
        return None
    return {"category": b.category, "label": b.option_label, "metric": fmt.metric(b.metric),
            "delta": fmt.delta(b.delta), "epoch": fmt.epoch(b.best_epoch),
            "config_path": b.record.cell.config_path, "command": reproduce_command(b.record),
            "wandb": wandb_reference(b.record, s.wandb_entity)}


def _sweeps_context(model: ModelSummary, s: ExperimentSummary) -> list[dict[str, Any]]:
    """One section per sweep id (in the order its trials appear), trials best first."""
    groups: dict[str, list[CellSummary]] = {}
    for cell in model.cells:
        if cell.record.sweep is not None:
            groups.setdefault(cell.record.sweep.sweep_id, []).append(cell)
    return [_sweep_context(sweep_id, cells, model, s) for sweep_id, cells in groups.items()]


def _sweep_context(sweep_id: str, cells: list[CellSummary], model: ModelSummary,
                   s: ExperimentSummary) -> dict[str, Any]:
    """A sweep's trial table, parameter scatter and learning curves."""
    order = plots.ranked(cells, s.goal)
    names = sweep_plots.parameter_names(cells)
    trials = [{
        "cell_id": c.cell_id, "trial": c.record.sweep.trial if c.record.sweep else "-",
        "status": c.status, "metric": fmt.metric(c.metric), "epoch": fmt.epoch(c.best_epoch),
        "delta": fmt.delta(c.delta), "duration": fmt.duration(c.duration_s),
        "params": [_param_text(sweep_plots.trial_params(c), n) for n in names],
    } for c in order]
    best = next((c for c in order if c.status in FINISHED), None)
    title = f"{model.model}: sweep {sweep_id}"
    return {
        "sweep_id": sweep_id, "category": cells[0].category, "params": names, "trials": trials,
        "counts": fmt.counts(_status_counts(cells)),
        "problems": fmt.problems(dataclasses.replace(model, cells=tuple(cells))),
        "best": best and {"trial": best.record.sweep.trial if best.record.sweep else "-",
                          "metric": fmt.metric(best.metric), "delta": fmt.delta(best.delta),
                          "label": best.option_label},
        "scatter": sweep_plots.parameter_scatter(cells, metric=s.metric, goal=s.goal, title=title),
        "curves": plots.learning_curves(cells, model.baseline, metric=s.metric, goal=s.goal, title=title),
    }


def _param_text(params: dict[str, Any], name: str) -> str:
    return format_number(params[name]) if name in params else "-"


def _status_counts(cells: list[CellSummary]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell.status] = counts.get(cell.status, 0) + 1
    return counts


def _breakable(text: str) -> Any:
    """Escaped ``text`` that may wrap after ``_`` (``<wbr>``: nothing extra is copied with the label)."""
    from markupsafe import Markup, escape  # jinja2's own dependency

    return Markup(str(escape(text)).replace("_", "_<wbr>"))


def render_html(summary: ExperimentSummary) -> str:
    """Render the whole report as one HTML string."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["breakable"] = _breakable
    generated = datetime.fromtimestamp(summary.generated_at, timezone.utc)
    return env.from_string(TEMPLATE).render(
        s=summary,
        counts=fmt.counts(summary.status_counts),
        generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
        compute={"spent": fmt.duration(summary.compute_s), "saved": fmt.duration(summary.saved_s),
                 "shared": fmt.duration(summary.shared_saved_s)},
        columns=fmt.columns(summary),
        mark=fmt.BEST_MARK,
        notice=fmt.test_notice(summary),
        models=[_model_context(m, summary) for m in summary.models],
    )
