"""How numbers look to a human: one place, so table, Markdown and HTML agree."""

from __future__ import annotations

import re
from typing import Callable

from hyperparameter_system.child_contract import Status
from hyperparameter_system.report.records import INTERRUPTED, CellSummary, ModelSummary
from hyperparameter_system.report.summary import FINISHED

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


def option(cell: CellSummary) -> str:
    """The option label with the category-winner mark."""
    return f"{cell.option_label} {BEST_MARK}" if cell.is_best_in_category else cell.option_label


def cell_row(cell: CellSummary) -> list[str]:
    """The seven summary columns of one cell, as text."""
    return [cell.category, option(cell), cell.status, metric(cell.metric),
            epoch(cell.best_epoch), delta(cell.delta), duration(cell.duration_s)]


COLUMNS = ["category", "option", "status", "metric", "best epoch", "delta vs baseline", "duration"]


def counts(status_counts: dict[str, int]) -> str:
    """``completed 5, failed 1, running 1`` (statuses sorted)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(status_counts.items())) or "no cells"


def best_line(model: ModelSummary, metric_name: str) -> str:
    """One sentence naming the model's best cell, or why there is none yet."""
    if model.best is None:
        return "best: none finished yet"
    best = model.best
    return (f"best: {best.category} / {best.option_label} "
            f"({metric_name} {metric(best.metric)}, delta {delta(best.delta)})")


def problems(model: ModelSummary, escape: Callable[[str], str] = str) -> list[str]:
    """One line per cell that ended badly: status and the first line of its error.

    ``escape`` makes the child's text literal in the output format (Markdown).
    """
    lines = []
    for cell in model.cells:
        latest = cell.record.latest
        if latest is None or cell.status in FINISHED or cell.status == Status.RUNNING.value:
            continue
        if cell.status == INTERRUPTED:
            first = "its runner died mid-run; the next run of the matrix resumes it"
        else:
            first = escape(shown(latest.error.splitlines()[0])) if latest.error else "no error text"
        lines.append(f"{cell.category} / {cell.option_label}: {cell.status}: {first}")
    return lines
