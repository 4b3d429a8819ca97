"""The sweep plot of the HTML report: each swept parameter against the metric.

One small scatter per parameter answers what a sweep is for ("where is the good
learning rate?") and stays readable at 300 trials, where a legend of trials
could not. Numbers spanning two decades or more get a log axis; words
(an optimizer name) get one column each.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from hyperparameter_system.report.plots import png_base64, pyplot, ranked, wrap
from hyperparameter_system.report.records import CellSummary
from hyperparameter_system.report.summary import FINISHED
from hyperparameter_system.tracking.wandb_run import flatten_config

MAX_PARAMETERS = 9  # subplots; a sweep over more parameters shows the first nine (sorted)


def trial_params(cell: CellSummary) -> dict[str, Any]:
    """The trial's sampled point with nested parameters as dotted names (``{}`` for a matrix cell)."""
    sweep = cell.record.sweep
    return flatten_config(sweep.params) if sweep is not None else {}


def parameter_names(cells: Sequence[CellSummary]) -> list[str]:
    """Every parameter any trial sampled, sorted (the trial table's columns)."""
    return sorted({name for cell in cells for name in trial_params(cell)})


def parameter_scatter(cells: Sequence[CellSummary], *, metric: str, goal: str, title: str) -> str | None:
    """Metric vs each swept parameter, one point per finished trial, the best one starred.

    None when no trial finished or no parameter took two values.
    """
    finished = [c for c in cells if c.status in FINISHED and c.metric is not None]
    points = [(trial_params(c), c.metric) for c in ranked(finished, goal)]
    names = [n for n in parameter_names(cells) if len({repr(p.get(n)) for p, _ in points}) > 1]
    if not points or not names:
        return None
    names = names[:MAX_PARAMETERS]
    plt = pyplot()
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False, sharey=True,
                             figsize=(3.4 * columns + 0.6, 2.7 * rows + 0.5))
    for ax, name in zip(axes.ravel(), names):
        _scatter(ax, [(p.get(name), value) for p, value in points if name in p])
        ax.set_xlabel(wrap(name, 30), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    fig.suptitle(f"{title} (\u2605 best trial)")
    fig.subplots_adjust(wspace=0.08, hspace=0.45)
    return png_base64(fig)


def _scatter(ax: Any, pairs: list[tuple[Any, float]]) -> None:
    """Numbers on a (log when wide) numeric axis, anything else as labelled columns; the first pair starred.

    ``pairs`` come best first, so the star marks where the best trial sits on
    this parameter.
    """
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in pairs):
        xs = [float(x) for x, _ in pairs]
        if min(xs) > 0 and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
    else:
        levels = sorted({str(x) for x, _ in pairs})
        index: Mapping[str, int] = {level: i for i, level in enumerate(levels)}
        xs = [float(index[str(x)]) for x, _ in pairs]
        ax.set_xticks(range(len(levels)), labels=[wrap(level, 12) for level in levels], fontsize=7)
        ax.set_xlim(-0.5, len(levels) - 0.5)
    ys = [y for _, y in pairs]
    ax.scatter(xs, ys, s=14, alpha=0.7, color="C0")
    ax.scatter(xs[:1], ys[:1], s=140, marker="*", color="#d62728", label="best trial")
