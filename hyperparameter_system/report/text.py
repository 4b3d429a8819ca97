"""Human-readable summaries: a rich table for the terminal and Markdown for notes.

Both show, per model, every cell (category, option, status, metric, best
epoch, delta vs the baseline, duration), mark each category's best option with
``*``, name the model's best cell and count cells by status.
"""

from __future__ import annotations

import html
import io
import re

from hyperparameter_system.report import fmt
from hyperparameter_system.report.records import ExperimentSummary, ModelSummary


def _header(summary: ExperimentSummary) -> str:
    return (f"experiment {summary.experiment}: {summary.metric} ({summary.goal}); "
            f"cells: {fmt.counts(summary.status_counts)}")


def _compute_line(summary: ExperimentSummary) -> str:
    return (f"compute spent {fmt.duration(summary.compute_s)}, "
            f"saved by early stopping {fmt.duration(summary.saved_s)}")


def render_table(summary: ExperimentSummary, *, width: int | None = None, color: bool = False) -> str:
    """A rich table per model, rendered to text (colour only for a terminal)."""
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 120, force_terminal=color,
                      no_color=not color, highlight=False, soft_wrap=False)
    console.print(_header(summary))
    for model in summary.models:
        table = Table(title=f"{model.model}  (W&B project {model.project})", title_justify="left")
        for name in fmt.COLUMNS:
            table.add_column(name, justify="right" if name in ("metric", "best epoch",
                                                              "delta vs baseline", "duration")
                             else "left", no_wrap=name != "option")
        for cell in model.cells:
            table.add_row(*fmt.cell_row(cell), style="bold" if cell.is_best_of_model else None)
        console.print(table)
        console.print(f"  {fmt.best_line(model, summary.metric)}")
        console.print(f"  status: {fmt.counts(model.status_counts)}")
        for line in fmt.problems(model):
            console.print(f"  ! {line}", markup=False)
    console.print(_compute_line(summary))
    console.print(f"{fmt.BEST_MARK} best option of its category; bold: best cell of the model")
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    """A table cell: its pipes escaped, and HTML as entities (labels are sanitised names)."""
    return html.escape(text.replace("|", "\\|"), quote=False)


def _md_literal(text: str) -> str:
    """A child's text shown literally: Markdown punctuation escaped, HTML (``<script>``) as entities."""
    return html.escape(re.sub(r"([\\`*_\[\]|])", r"\\\1", text), quote=False)


def _md_model(model: ModelSummary, metric_name: str) -> list[str]:
    lines = [f"## {model.model}", "", f"W&B project `{model.project}`", ""]
    lines.append("| " + " | ".join(fmt.COLUMNS) + " |")
    lines.append("|" + "|".join("---" if i < 3 else "---:" for i in range(len(fmt.COLUMNS))) + "|")
    for cell in model.cells:
        row = [_md_escape(v) for v in fmt.cell_row(cell)]
        if cell.is_best_of_model:
            row = [f"**{v}**" for v in row]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", fmt.best_line(model, metric_name), "",
              f"status: {fmt.counts(model.status_counts)}", ""]
    problems = fmt.problems(model, escape=_md_literal)
    lines += [f"- {line}" for line in problems]
    if problems:
        lines.append("")
    return lines


def render_markdown(summary: ExperimentSummary) -> str:
    """GitHub-flavoured Markdown: a heading and a table per model."""
    lines = [f"# {summary.experiment}", "", _header(summary), ""]
    for model in summary.models:
        lines += _md_model(model, summary.metric)
    lines += [_compute_line(summary), "",
              f"`{fmt.BEST_MARK}` best option of its category; **bold**: best cell of the model", ""]
    return "\n".join(lines)
