"""``--best``: the winning cell, its rendered config and the command that reproduces it (text or JSON).

The answer a user copies into a paper or a production config: so it prints
the config file as it is on disk (the child read exactly that file) rather
than a reconstruction.
"""

from __future__ import annotations

import json
from pathlib import Path

import hyperparameter_system.report.fmt as fmt
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.report.links import reproduce_command, wandb_reference
from hyperparameter_system.report.records import CellSummary, ExperimentSummary
from hyperparameter_system.report.summary import better, require_known


def find_best(summary: ExperimentSummary, model: str | None = None) -> CellSummary:
    """The best finished cell of ``model``, or of every model when None.

    Raises:
        HpsysError: for a model the store does not know (the known ones are
            listed) or when no cell has finished yet.
    """
    models = summary.models
    if model is not None:
        require_known("--model", "model", [model], [m.model for m in models], summary.experiment)
        models = tuple(m for m in models if m.model == model)
    best: CellSummary | None = None
    for candidate in (m.best for m in models):
        if candidate is not None and (best is None or better(candidate.metric, best.metric,
                                                             summary.goal)):
            best = candidate
    if best is None:
        scope = f"model {model}" if model else f"experiment {summary.experiment}"
        raise HpsysError(f"no finished cell yet for {scope} (see --summary for the status)")
    return best


def render_best(summary: ExperimentSummary, cell: CellSummary) -> str:
    """The best cell as text: what it is, how good, where its run is, config and command."""
    record = cell.record
    planned = record.cell
    wandb = wandb_reference(record, summary.wandb_entity)
    lines = [
        f"best cell of experiment {summary.experiment} ({summary.metric}, {summary.goal})",
        f"  model:     {planned.model}",
        f"  category:  {planned.category}",
        f"  option:    {planned.option_label}",
        f"  run name:  {planned.run_name}",
        f"  {summary.metric}: {fmt.mean_std(cell)} at epoch {fmt.epoch(cell.best_epoch)}"
        f" (n {cell.n}, delta vs baseline {fmt.delta(cell.delta)}"
        + (f", 95% CI {fmt.interval(cell.ci95)})" if cell.ci95 else ")"),
        f"  cell id:   {planned.cell_id}",
    ]
    if wandb["url"] or wandb["path"] or wandb["run_dir"]:
        lines.append(f"  W&B run:   {wandb['url'] or wandb['path'] or ''}"
                     + (f" ({wandb['run_dir']})" if wandb["run_dir"] and not wandb["url"] else ""))
    lines += [f"  config:    {planned.config_path}", "", f"# {planned.config_path}"]
    lines.append(_config_text(planned.config_path).rstrip("\n"))
    lines += ["", "# reproduce with (writes a fresh repro-<time> folder beside the attempts):",
              reproduce_command(record), ""]
    return "\n".join(lines)


def _config_text(path: str) -> str:
    """The rendered config as the child read it, or a note that it is gone."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        return f"# (config file not readable: {error.strerror or error})"


def render_best_json(summary: ExperimentSummary) -> str:
    """The best finished cell of each model as JSON (the export schema's cell shape).

    ``best`` is null for a model with no finished cell yet; the cell carries its
    metric, config path, reproduce command and W&B reference (only for a run
    that was made).

    Raises:
        HpsysError: when no model has a finished cell (as the text form does).
    """
    from hyperparameter_system.report.export import SCHEMA_VERSION, cell_to_dict

    find_best(summary)  # nothing finished anywhere: the same one line as the text form
    document = {
        "schema_version": SCHEMA_VERSION,
        "experiment": summary.experiment,
        "metric": {"name": summary.metric, "goal": summary.goal},
        "models": [{"model": m.model, "project": m.project,
                    "best": cell_to_dict(m.best, summary.wandb_entity) if m.best else None}
                   for m in summary.models],
    }
    return json.dumps(document, indent=2, default=str) + "\n"
