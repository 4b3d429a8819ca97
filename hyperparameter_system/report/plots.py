"""Plots of the HTML report, as base64 PNG strings that need nothing but the file.

matplotlib is imported lazily with the Agg backend: the report must render on
a headless GPU box and in CI, and ``--summary`` in a terminal should not pay
for it.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from hyperparameter_system.report.records import ModelSummary
from hyperparameter_system.report.summary import FINISHED


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png_base64(fig: Any) -> str:
    """Encode a figure as base64 PNG and free it (many plots in one report)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def heatmap(model: ModelSummary, metric: str, goal: str) -> str | None:
    """Category x option heatmap of the delta vs the baseline; None if nothing to show.

    Colour is the improvement (green better, red worse, whatever the goal);
    each square is annotated with the option label and the raw delta.
    """
    categories = model.categories
    if not categories or not any(c.delta is not None for c in model.cells):
        return None
    rows = [[c for c in model.cells if c.category == cat] for cat in categories]
    width = max(len(r) for r in rows)
    sign = -1.0 if goal == "minimize" else 1.0
    grid = [[(sign * r[i].delta) if i < len(r) and r[i].delta is not None else math.nan
             for i in range(width)] for r in rows]
    finite = [abs(v) for row in grid for v in row if not math.isnan(v)]
    limit = max(finite) if finite and max(finite) > 0 else 1.0
    plt = _pyplot()
    # Capped: a sweep can put dozens of trials in one category row.
    fig, ax = plt.subplots(figsize=(min(2.2 + 2.0 * width, 24.0), 0.9 + 0.7 * len(rows)))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    for y, row in enumerate(rows):
        for x, cell in enumerate(row):
            mark = " *" if cell.is_best_in_category else ""
            text = f"{cell.option_label[:22]}{mark}\n{_delta_text(cell.delta, cell.status)}"
            # The colour map's ends are dark: white text stays readable there.
            dark = not math.isnan(grid[y][x]) and abs(grid[y][x]) > 0.7 * limit
            ax.text(x, y, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_yticks(range(len(categories)), labels=categories)
    ax.set_xticks(range(width), labels=[f"option {i + 1}" for i in range(width)])
    ax.set_title(f"{model.model}: {metric} vs baseline")
    fig.colorbar(image, ax=ax, label="improvement over baseline")
    return _png_base64(fig)


def _delta_text(delta: float | None, status: str) -> str:
    """The delta, with the status when the cell has not finished well."""
    if delta is None:
        return status
    return f"{delta:+.4f}" if status in FINISHED else f"{delta:+.4f}\n({status})"


def learning_curves(model: ModelSummary, category: str, metric: str) -> str | None:
    """The metric per epoch of each option of ``category``, the baseline dashed.

    Reads the per-epoch history of each cell's newest attempt, so a running
    cell shows its curve so far. None when no cell has a history yet.
    """
    cells = [c for c in model.cells if c.category == category]
    if model.baseline is not None:
        cells.append(model.baseline)
    series = []
    for cell in cells:
        latest = cell.record.latest
        points = [(p.epoch, p.metrics[metric]) for p in (latest.history if latest else ())
                  if p.metrics.get(metric) is not None]
        if points:
            series.append((cell, points))
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    for cell, points in series:
        xs, ys = zip(*points)
        style = "--" if cell.category == "baseline" else "-"
        label = "baseline" if cell.category == "baseline" else cell.option_label
        ax.plot(xs, ys, style, marker="o", markersize=3, label=label[:40])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{model.model}: {category}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png_base64(fig)
