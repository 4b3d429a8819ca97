"""Machine-readable summaries: JSON (a versioned schema) and CSV (one row per cell).

JSON schema, version 2 (``schema_version: 2``). Fields are only ever added
within a version; renaming, removing or changing the meaning of one bumps it.

Changes from version 1: a cell is now one row per (model, category, option)
over its repeats: ``metric`` is the mean of the finished repeats' best values
(the single value when n = 1), ``delta_vs_baseline`` is the difference of
means, ``is_best_in_category`` marks the best mean (a winner only when
``significant``), ``cell_id`` / ``run_name`` / ``wandb`` are those of repeat 0,
and ``repeats`` lists every repeat. Added: ``n``, ``metric_mean``,
``metric_std``, ``ci95``, ``p_value``, ``significant``, ``same_as``,
``repeats``, per model and overall ``saved_by_shared_cells_s``, and a W&B
reference only for a run that was made::

    {
      "schema_version": 2,
      "experiment": str,                  # experiment name
      "metric": {"name": str, "goal": "maximize" | "minimize"},
      "store": str,                       # the results.sqlite read
      "generated_at": str,                # ISO 8601 UTC
      "status_counts": {status: int},     # over every cell (each repeat) of every model
      "compute": {"spent_s": float,       # wall seconds of every attempt
                  "saved_by_early_stopping_s": float,   # runs that stopped early themselves
                  "saved_by_shared_cells_s": float},    # shared trainings not run again
      "models": [{
        "model": str, "project": str,     # model name, W&B project
        "status_counts": {status: int},
        "baseline_cell_id": str | null,
        "best_cell_id": str | null,       # best finished row (by mean), baseline included
        "best_by_category": {category: cell_id},   # best mean per category
        "saved_by_shared_cells_s": float,
        "cells": [{
          "cell_id": str, "category": str,        # "baseline" for the baseline
          "option": any, "option_label": str, "run_name": str,
          "status": str,                  # pending|running|completed|failed|... (least advanced repeat)
          "attempts": int,                # of repeat 0
          "n": int,                       # finished repeats counted
          "metric": float | null,         # = metric_mean; best so far while none finished
          "metric_mean": float | null, "metric_std": float | null,   # std: n - 1, null below n = 2
          "best_epoch": int | null, "epochs_run": int | null,        # of repeat 0
          "max_epochs": int | null,       # SOLVER.MAX_EPOCHS of the config
          "delta_vs_baseline": float | null,   # mean - baseline mean
          "ci95": [float, float] | null,  # Welch 95 % interval of the delta; null below n = 2
          "p_value": float | null,        # Welch's t-test, two-sided
          "significant": bool | null,     # p < 0.05 and better under the goal; null: untested
          "same_as": str | null,          # cell id whose training this one shares
          "duration_s": float | null,     # repeat 0's newest attempt (so far, if running)
          "compute_s": float,             # all attempts of all repeats
          "saved_by_early_stopping_s": float,
          "saved_by_shared_cells_s": float,
          "is_best_in_category": bool, "is_best_of_model": bool,
          "config_path": str, "command": str,  # command reproduces repeat 0
          "error": str | null,
          "node": str | null,             # where the newest attempt ran (a host, or a Ray node's name)
          "wandb": {"run_id": str | null, "run_dir": str | null,
                    "path": str | null, "url": str | null},   # nulls unless a run was made
          "repeats": [{"cell_id": str, "repeat": int, "seed": int | null, "run_name": str,
                       "status": str, "metric": float | null, "config_path": str,
                       "node": str | null, "wandb": {...}}]
        }]
      }]
    }

Status values are those of ``child_contract.Status``. Cells are ordered
baseline first, then by category and option label; models in store order.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Any

from hyperparameter_system.report.fmt import node
from hyperparameter_system.report.links import reproduce_command, wandb_reference
from hyperparameter_system.report.records import CellSummary, ExperimentSummary, ModelSummary

SCHEMA_VERSION = 2

CSV_COLUMNS = (
    "model", "category", "option_label", "status", "n", "metric", "metric_std", "best_epoch",
    "epochs_run", "max_epochs", "delta_vs_baseline", "ci95_low", "ci95_high", "p_value",
    "significant", "same_as", "duration_s", "compute_s", "saved_by_early_stopping_s",
    "saved_by_shared_cells_s",
    "is_best_in_category", "is_best_of_model", "attempts", "run_name", "cell_id",
    "config_path", "wandb_path", "node",
)


def cell_to_dict(cell: CellSummary, entity: str = "") -> dict[str, Any]:
    """One cell in the JSON schema's shape (also the source of the CSV row)."""
    record = cell.record
    latest = record.latest
    return {
        "cell_id": record.cell.cell_id,
        "category": record.cell.category,
        "option": record.cell.option,
        "option_label": record.cell.option_label,
        "run_name": record.cell.run_name,
        "status": cell.status,
        "attempts": len(record.attempts),
        "n": cell.n,
        "metric": cell.metric,
        "metric_mean": cell.metric,
        "metric_std": cell.metric_std,
        "best_epoch": cell.best_epoch,
        "epochs_run": cell.epochs_run,
        "max_epochs": cell.max_epochs,
        "delta_vs_baseline": cell.delta,
        "ci95": list(cell.ci95) if cell.ci95 else None,
        "p_value": cell.p_value,
        "significant": cell.significant,
        "same_as": record.cell.same_as or None,
        "duration_s": cell.duration_s,
        "compute_s": cell.compute_s,
        "saved_by_early_stopping_s": cell.saved_s,
        "saved_by_shared_cells_s": cell.shared_saved_s,
        "is_best_in_category": cell.is_best_in_category,
        "is_best_of_model": cell.is_best_of_model,
        "config_path": record.cell.config_path,
        "command": reproduce_command(record),
        "error": (latest.error or None) if latest else None,
        "node": node(cell) or None,
        "wandb": wandb_reference(record, entity),
        "repeats": [_repeat_to_dict(r, entity) for r in cell.repeats],
    }


def _repeat_to_dict(cell: CellSummary, entity: str) -> dict[str, Any]:
    """One repeat of a row: which run it is and what it reached."""
    record = cell.record
    return {"cell_id": record.cell.cell_id, "repeat": record.cell.repeat,
            "seed": record.cell.seed, "run_name": record.cell.run_name,
            "status": cell.status, "metric": cell.metric, "config_path": record.cell.config_path,
            "node": node(cell) or None,
            "wandb": wandb_reference(record, entity)}


def model_to_dict(model: ModelSummary, entity: str = "") -> dict[str, Any]:
    """One model in the JSON schema's shape."""
    return {
        "model": model.model,
        "project": model.project,
        "status_counts": model.status_counts,
        "baseline_cell_id": model.baseline.cell_id if model.baseline else None,
        "best_cell_id": model.best.cell_id if model.best else None,
        "best_by_category": {k: v.cell_id for k, v in model.best_by_category.items()},
        "saved_by_shared_cells_s": model.shared_saved_s,
        "cells": [cell_to_dict(c, entity) for c in model.cells],
    }


def summary_to_dict(summary: ExperimentSummary) -> dict[str, Any]:
    """The whole summary as the versioned JSON document."""
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": summary.experiment,
        "metric": {"name": summary.metric, "goal": summary.goal},
        "store": summary.store_path,
        "generated_at": datetime.fromtimestamp(summary.generated_at, timezone.utc).isoformat(),
        "status_counts": summary.status_counts,
        "compute": {"spent_s": summary.compute_s, "saved_by_early_stopping_s": summary.saved_s,
                    "saved_by_shared_cells_s": summary.shared_saved_s},
        "models": [model_to_dict(m, summary.wandb_entity) for m in summary.models],
    }


def render_json(summary: ExperimentSummary) -> str:
    """The JSON document, indented, keys in schema order, newline-terminated."""
    return json.dumps(summary_to_dict(summary), indent=2, default=str) + "\n"


def render_csv(summary: ExperimentSummary) -> str:
    """One row per cell; numbers unrounded so a spreadsheet sees the stored values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for model in summary.models:
        for cell in model.cells:
            row = cell_to_dict(cell, summary.wandb_entity)
            row["model"] = model.model
            row["wandb_path"] = row["wandb"]["path"] or row["wandb"]["run_dir"] or ""
            row["ci95_low"], row["ci95_high"] = row["ci95"] or (None, None)
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_COLUMNS})
    return buffer.getvalue()
