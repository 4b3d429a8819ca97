"""Plots of the HTML report, as base64 PNG strings that need nothing but the file.

matplotlib is imported lazily with the Agg backend: the report must render on
a headless GPU box and in CI, and ``--summary`` in a terminal should not pay
for it. Every plot has to read as well for 3 cells as for 300 sweep trials:
labels are wrapped (never cut), legends sit beside the axes, and only the best
few series get a colour of their own.
"""

from __future__ import annotations

import base64
import io
import math
import re
from typing import Any, Sequence

from hyperparameter_system.config.goal import Goal
from hyperparameter_system.report.fmt import is_winner
from hyperparameter_system.report.records import CellSummary
from hyperparameter_system.report.summary import FINISHED

HIGHLIGHTED = 5  # series drawn in colour (best first); the rest are faint grey
_BREAK = re.compile(r"(?<=[_,/ ])")  # where a long label may wrap


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_base64(fig: Any) -> str:
    """Encode a figure as base64 PNG and free it (many plots in one report)."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def wrap(label: str, width: int) -> str:
    """``label`` on lines of about ``width`` characters, broken after ``_``, ``,``, ``/`` or a space.

    Nothing is cut: a label is how the user tells options apart, and the ends
    (``lr0.001`` vs ``lr0.0001``) are what differ.
    """
    lines: list[str] = []
    for part in _BREAK.split(label):
        while len(part) > width:  # one unbreakable run: split it hard
            lines.append(part[:width])
            part = part[width:]
        if lines and len(lines[-1]) + len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return "\n".join(line for line in lines if line) or label


def ranked(cells: Sequence[CellSummary], goal: str) -> list[CellSummary]:
    """Cells best first under ``goal``; cells without a value keep their order at the end."""
    valued = [c for c in cells if c.metric is not None]
    rest = [c for c in cells if c.metric is None]
    direction = Goal(goal)
    return sorted(valued, key=lambda c: direction.order_key(float(c.metric or 0.0))) + rest


def heatmap(rows: Sequence[tuple[str, Sequence[CellSummary]]], title: str, goal: str) -> str | None:
    """One strip per category of the delta vs the baseline; None if nothing to show.

    Each strip has its own option labels under its squares (categories have
    different options, so a shared "option 1, 2, 3" axis says nothing). Colour
    is the improvement (green better, red worse, whatever the goal).
    """
    if not rows or not any(c.delta is not None for _, cells in rows for c in cells):
        return None
    sign = Goal(goal).sign
    width = max(len(cells) for _, cells in rows)
    finite = [abs(c.delta) for _, cells in rows for c in cells if c.delta is not None]
    limit = max(finite) if finite and max(finite) > 0 else 1.0
    labels = [[wrap(c.option_label, 16) for c in cells] for _, cells in rows]
    lines = max(label.count("\n") + 1 for row in labels for label in row)
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 1, squeeze=False, gridspec_kw={"hspace": 0.2 + 0.2 * lines},
                             figsize=(min(2.6 + 1.45 * width, 15.0), 0.5 + (0.8 + 0.17 * lines) * len(rows)))
    image = None
    for ax, (category, cells), names in zip(axes[:, 0], rows, labels):
        grid = [[sign * c.delta if c.delta is not None else math.nan for c in cells]]
        image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto",
                          extent=(-0.5, len(cells) - 0.5, 0.5, -0.5))
        for x, cell in enumerate(cells):
            dark = not math.isnan(grid[0][x]) and abs(grid[0][x]) > 0.7 * limit
            mark = " \u2605" if is_winner(cell) else ""
            ax.text(x, 0, _delta_text(cell) + mark, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_xticks(range(len(cells)), labels=names, fontsize=7)
        ax.set_yticks([0], labels=[category])
    axes[0, 0].set_title(title)
    fig.colorbar(image, ax=list(axes[:, 0]), label="improvement over baseline", fraction=0.03)
    return png_base64(fig)


def _delta_text(cell: CellSummary) -> str:
    """The delta, with the status when the cell has not finished well."""
    if cell.delta is None:
        return cell.status
    text = f"{cell.delta:+.4f}"
    return text if cell.status in FINISHED else f"{text}\n({cell.status})"


def learning_curves(cells: Sequence[CellSummary], baseline: CellSummary | None, *, metric: str,
                    goal: str, title: str) -> str | None:
    """The metric per epoch of ``cells``: the best few in colour, the rest faint, the baseline dashed.

    Reads the per-epoch history of each cell's newest attempt, so a running
    cell shows its curve so far. None when no cell has a history yet.
    """
    order = ranked(cells, goal)
    series = [(c, _points(c, metric)) for c in order]
    series = [(c, p) for c, p in series if p]
    base = _points(baseline, metric) if baseline is not None else []
    if not series and not base:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    faint = series[HIGHLIGHTED:]
    for cell, points in faint:
        ax.plot(*zip(*points), "-", marker="o", markersize=2, color="#9a9a9a", alpha=0.35, linewidth=0.8)
    if faint:
        ax.plot([], [], "-", color="#9a9a9a", label=f"{len(faint)} other{'s' if len(faint) > 1 else ''}")
    for rank, (cell, points) in enumerate(series[:HIGHLIGHTED]):
        ax.plot(*zip(*points), "-", marker="o", markersize=4, linewidth=1.6, color=f"C{rank}",
                label=wrap(cell.option_label, 28))
    if base:
        ax.plot(*zip(*base), "--", marker="o", markersize=3, color="black", label="baseline")
    _epoch_axis(ax, [e for _, points in series for e, _ in points] + [e for e, _ in base])
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    # Beside the axes, so no curve or axis label is ever hidden behind it.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return png_base64(fig)


def _points(cell: CellSummary, metric: str) -> list[tuple[int, float]]:
    latest = cell.record.latest
    return [(p.epoch, p.metrics[metric]) for p in (latest.history if latest else ())
            if p.metrics.get(metric) is not None]


def _epoch_axis(ax: Any, epochs: list[int]) -> None:
    """Whole epochs only: every epoch ticked when few, else integer ticks; one epoch sits centred."""
    from matplotlib.ticker import MaxNLocator

    low, high = min(epochs), max(epochs)
    if high - low <= 15:
        ax.set_xticks(range(low, high + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(low - 0.5, high + 0.5)
    ax.set_xlabel("epoch")


def spread(rows: Sequence[tuple[str, Sequence[CellSummary]]], baseline: CellSummary | None, *,
           metric: str, title: str) -> str | None:
    """The metric of each option as mean and error bar (one standard deviation over its repeats).

    Drawn only when some option has two or more finished repeats: with one run
    per cell there is no spread to show, and the heatmap says the rest. The
    baseline is the dashed line with its own band, the yardstick of every delta.
    """
    cells = [c for _, group in rows for c in group if c.metric is not None]
    if not any(c.n > 1 for c in [*cells, *([baseline] if baseline else [])]):
        return None
    plt = pyplot()
    labels = [wrap(f"{c.category} / {c.option_label}", 36) for c in cells]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.22 * lines + 0.1 * len(cells)))
    ys = list(range(len(cells)))
    for y, cell in zip(ys, cells):
        error = cell.metric_std if cell.n > 1 and cell.metric_std is not None else None
        ax.errorbar([cell.metric], [y], xerr=error, fmt="o", color=f"C{y % 10}", capsize=4)
        ax.annotate(f"n={cell.n}", (cell.metric or 0.0, y), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=7, color="#555")
    if baseline is not None and baseline.metric is not None:
        ax.axvline(baseline.metric, color="black", linestyle="--", linewidth=1,
                   label=f"baseline (n={baseline.n})")
        if baseline.n > 1 and baseline.metric_std:
            ax.axvspan(baseline.metric - baseline.metric_std, baseline.metric + baseline.metric_std,
                       color="black", alpha=0.08)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_yticks(ys, labels=labels, fontsize=7)
    ax.set_ylim(len(cells) - 0.5, -0.7)
    ax.set_xlabel(f"{metric} (mean \u00b1 1 std over repeats)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return png_base64(fig)
