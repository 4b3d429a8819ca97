"""Human-readable summaries: a rich table for the terminal and Markdown for notes.

Both show, per model, one row per option over its repeats (n, mean ± std of
the best metric, best epoch, delta vs the baseline with its 95 % interval, the
test's verdict, duration), mark a category's winner with ``*`` only when it
beats the baseline beyond noise, name the model's best cell and count cells by
status.
"""

from __future__ import annotations

import html
import io
import re

import hyperparameter_system.report.fmt as fmt
from hyperparameter_system.report.records import ExperimentSummary, ModelSummary


def _header(summary: ExperimentSummary) -> str:
    return (f"experiment {summary.experiment}: {summary.metric} ({summary.goal}); "
            f"cells: {fmt.counts(summary.status_counts)}")


def _compute_line(summary: ExperimentSummary) -> str:
    return fmt.compute_line(summary.compute_s, summary.saved_s, summary.shared_saved_s)


def _footer(summary: ExperimentSummary) -> list[str]:
    """The compute line, and the legend or, when nothing could be tested, why not."""
    return [_compute_line(summary), fmt.test_notice(summary)]


def render_table(summary: ExperimentSummary, *, width: int | None = None, color: bool = False) -> str:
    """A rich table per model, rendered to text (colour only for a terminal)."""
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    # Not a terminal: wide enough that no column is cut (a table only takes what it needs).
    console = Console(file=buffer, width=width or 240, force_terminal=color,
                      no_color=not color, highlight=False, soft_wrap=False)
    console.print(_header(summary))
    shown = fmt.columns(summary)
    for model in summary.models:
        table = Table(title=f"{model.model}  (W&B project {model.project})", title_justify="left")
        longest = max((len(fmt.option(c)) for c in model.cells), default=6)
        for name in shown:  # an option label is never cut: it names a run
            table.add_column(name, justify="right" if name in fmt.NUMERIC else "left",
                             no_wrap=True, min_width=longest if name == "option" else None)
        for cell in model.cells:
            table.add_row(*fmt.table_row(cell, shown),
                          style="bold" if cell.is_best_of_model else None)
        console.print(table)
        console.print(f"  {fmt.best_line(model, summary.metric)}")
        console.print(f"  status: {fmt.counts(model.status_counts)}")
        for line in fmt.problems(model):
            console.print(f"  ! {line}", markup=False)
    for line in _footer(summary):
        console.print(line, markup=False)
    console.print("bold: best mean of the model")
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    """A table cell: its pipes escaped, and HTML as entities (labels are sanitised names)."""
    return html.escape(text.replace("|", "\\|"), quote=False)


def _md_literal(text: str) -> str:
    """A child's text shown literally: Markdown punctuation escaped, HTML (``<script>``) as entities."""
    return html.escape(re.sub(r"([\\`*_\[\]|])", r"\\\1", text), quote=False)


def _md_model(model: ModelSummary, metric_name: str, shown: list[str]) -> list[str]:
    lines = [f"## {model.model}", "", f"W&B project `{model.project}`", ""]
    lines.append("| " + " | ".join(shown) + " |")
    lines.append("|" + "|".join("---:" if c in fmt.NUMERIC else "---" for c in shown) + "|")
    for cell in model.cells:
        row = [_md_escape(v) for v in fmt.table_row(cell, shown, mark="")]
        if cell.is_best_of_model:
            row = [f"**{v.strip()}**" if v.strip() else v for v in row]
        if fmt.is_winner(cell):  # the mark outside the bold: "**x** \*" (a bare * would end it)
            row[1] = f"{row[1]} \\{fmt.BEST_MARK}"
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
        lines += _md_model(model, summary.metric, fmt.columns(summary))
    lines += [f"{_md_literal(line)}\n" for line in _footer(summary)]
    lines += ["**bold**: best mean of the model", ""]
    return "\n".join(lines)
