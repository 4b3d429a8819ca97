"""How numbers look to a human: one place, so table, Markdown and HTML agree."""

from __future__ import annotations

import re
from typing import Callable

from hyperparameter_system.matrix.cell import BASELINE
from hyperparameter_system.child_contract import Status
from hyperparameter_system.report.records import INTERRUPTED, CellSummary, ExperimentSummary, ModelSummary
from hyperparameter_system.report.stats import ALPHA
from hyperparameter_system.report.summary import FINISHED, planned_repeats

BEST_MARK = "*"  # marks the best option of a category (ASCII: pipes and CSV-safe)
TEXT_CHARS = 200  # a child's text (an error line) is cut here in tables and lists
# Terminal escape sequences and every other control character but the tab and newline.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str, limit: int = TEXT_CHARS) -> str:
    """A child's text as it may be shown: no escape or control characters, one line, cut to ``limit``.

    The store keeps the text as the child wrote it; only its display is cleaned,
    so a script cannot recolour, move or clear the user's terminal.
    """
    clean = " ".join(_CONTROL.sub("", text).split())
    return clean if len(clean) <= limit else clean[:limit - 1] + "\u2026"


def metric(value: float | None) -> str:
    """Four decimals, or a dash when there is no value yet."""
    return "-" if value is None else f"{value:.4f}"


def delta(value: float | None) -> str:
    """Signed four decimals, so the direction is visible at a glance."""
    return "-" if value is None else f"{value:+.4f}"


def duration(seconds: float | None) -> str:
    """Seconds, minutes or hours, whichever reads best."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.2f}h"


def epoch(value: int | None) -> str:
    return "-" if value is None else str(value)


def is_winner(cell: CellSummary) -> bool:
    """The category's best mean, and better than the baseline beyond noise."""
    return cell.is_best_in_category and cell.significant is True


def option(cell: CellSummary, mark: str = BEST_MARK) -> str:
    """The option label with the category-winner mark."""
    return f"{cell.option_label} {mark}" if mark and is_winner(cell) else cell.option_label


def mean_std(cell: CellSummary) -> str:
    """``0.9120 ± 0.0041`` over the repeats, or the single value."""
    if cell.metric_std is None:
        return metric(cell.metric)
    return f"{metric(cell.metric)} \u00b1 {cell.metric_std:.4f}"


def interval(ci95: tuple[float, float] | None) -> str:
    """``[-0.0020, +0.0110]``, or a dash when it cannot be computed (n < 2)."""
    return "-" if ci95 is None else f"[{ci95[0]:+.4f}, {ci95[1]:+.4f}]"


def verdict(cell: CellSummary) -> str:
    """What the test says of the row, and whose training it shares.

    Every option the test could not judge (fewer than two finished runs of it
    or of its baseline) reads "untested", whatever its rank: the best of a
    category is no more tested than the others. The baseline is what the
    others are judged against, so it has no verdict of its own.
    """
    words = []
    if cell.same_as:
        words.append(f"= {cell.same_as}")
    if cell.category == BASELINE:
        pass
    elif cell.significant is True:
        words.append("winner" if cell.is_best_in_category else "better")
    elif cell.significant is False and cell.p_value is not None and cell.p_value < ALPHA:
        words.append("worse")
    elif cell.significant is False:
        words.append("within noise")
    else:
        words.append("untested")
    return ", ".join(words)


def cell_row(cell: CellSummary, mark: str = BEST_MARK) -> list[str]:
    """The summary columns of one row, as text (``mark`` as the format needs it)."""
    return [cell.category, option(cell, mark), str(cell.n), cell.status, mean_std(cell),
            epoch(cell.best_epoch), delta(cell.delta), interval(cell.ci95), verdict(cell),
            duration(cell.duration_s)]


COLUMNS = ["category", "option", "n", "status", "metric", "epoch", "delta", "95% CI of delta",
           "verdict", "duration"]
NODE_COLUMN = "node"  # shown when some cell ran on another machine than its runner (a Ray node)


def node(cell: CellSummary) -> str:
    """Where the cell's newest attempt ran."""
    latest = cell.record.latest
    return (latest.node or "") if latest else ""


def columns(summary: ExperimentSummary) -> list[str]:
    """The summary table's columns in every format: :data:`NODE_COLUMN` last when a cell ran elsewhere."""
    return COLUMNS + [NODE_COLUMN] * ran_elsewhere(summary)


def table_row(cell: CellSummary, shown: list[str], mark: str = BEST_MARK) -> list[str]:
    """A cell's values under the ``shown`` columns (:func:`columns`)."""
    return cell_row(cell, mark) + [node(cell)] * (NODE_COLUMN in shown)


def ran_elsewhere(summary: ExperimentSummary) -> bool:
    """True when a cell's newest attempt ran on another machine than its runner's."""
    return any(c.record.latest is not None and c.record.latest.node not in (None, c.record.latest.runner_host)
               for model in summary.models for c in model.cells)
NUMERIC = frozenset({"n", "metric", "epoch", "delta", "95% CI of delta", "duration"})
UNTESTED = ("one run per option: no confidence can be given for any difference; "
            "set execution.repeats (or --repeats) to 2 or more to test them")
SWEEP_UNTESTED = ("one run per sweep trial: no confidence can be given for any difference "
                  "(sweep trials are never repeated; compare options with repeats in a matrix run)")
LEGEND = (f"{BEST_MARK} winner: the category's best mean, better than the baseline by Welch's "
          f"t-test at {ALPHA:g} over the repeats; 'within noise': not significant")


def test_notice(summary: ExperimentSummary) -> str:
    """What the verdict column can say: the legend once a test was made, else why none was.

    Whether the plan has repeats is read from the cells' ``repeat`` fields, not
    from how many finished: a ``--repeats 3`` matrix stopped part-way is not a
    plan with one run per option.
    """
    rows = [c for m in summary.models for c in m.cells]
    if any(c.significant is not None for c in rows):
        return LEGEND
    planned = [planned_repeats(c) for c in rows]
    if max(planned, default=1) <= 1:
        only_trials = bool(rows) and all(c.record.sweep is not None for c in rows)
        return SWEEP_UNTESTED if only_trials else UNTESTED
    return (f"{max(planned)} runs per option planned, {sum(c.n for c in rows)} of {sum(planned)} "
            f"finished: no difference can be tested until an option and its baseline have two "
            f"finished runs each; the same command again runs the rest")


def counts(status_counts: dict[str, int]) -> str:
    """``completed 5, failed 1, running 1`` (statuses sorted)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(status_counts.items())) or "no cells"


def best_line(model: ModelSummary, metric_name: str) -> str:
    """One sentence naming the model's best cell, or why there is none yet."""
    if model.best is None:
        return "best: none finished yet"
    best = model.best
    return (f"best: {best.category} / {best.option_label} "
            f"({metric_name} {mean_std(best)}, n {best.n}, delta {delta(best.delta)})")


def compute_line(spent: float, early: float, shared: float) -> str:
    """Compute spent, and what early stopping and shared cells saved (each only when real)."""
    parts = [f"compute spent {duration(spent)}"]
    if early:
        parts.append(f"saved by early stopping {duration(early)}")
    if shared:
        parts.append(f"saved by shared cells {duration(shared)}")
    return ", ".join(parts)


def problems(model: ModelSummary, escape: Callable[[str], str] = str) -> list[str]:
    """One line per cell that ended badly: status and the first line of its error.

    ``escape`` makes the child's text literal in the output format (Markdown).
    """
    lines = []
    for cell in (r for row in model.cells for r in (row.repeats or (row,))):
        latest = cell.record.latest
        if latest is None or cell.status in FINISHED or cell.status == Status.RUNNING.value:
            continue
        if cell.status == INTERRUPTED:
            trial = cell.record.sweep  # a sweep's trial resumes with its sweep, not with the matrix
            first = ("its runner died mid-run; the next run of the matrix resumes it" if trial is None else
                     f"its sweep died mid-run; `hpsys --sweep --sweep-id {trial.sweep_id}` resumes the sweep")
        else:
            first = escape(shown(latest.error.splitlines()[0])) if latest.error else "no error text"
        repeat = cell.record.cell.repeat
        which = f" (repeat {repeat})" if repeat else ""
        lines.append(f"{cell.category} / {cell.option_label}{which}: {cell.status}: {first}")
    return lines
