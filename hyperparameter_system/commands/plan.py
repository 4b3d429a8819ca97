"""``--matrix`` and ``--dry-run``: show the planned cells, run nothing.

``--matrix`` prints one table row per cell (model, category, option label,
run name, W&B project) and the total; it writes nothing and imports neither
torch nor wandb, so it answers in a blink even for thousands of cells.
Run names are the ones a run will use (the store's creation time, read
without writing; the plan's minute before there is a store).
``--dry-run`` also renders every cell's config under ``temp_configs/``, in
place of what the previous dry run rendered for the same cells, and prints
the exact child command each cell would run, as a shell line: a model
whose child starts in its own folder (``cwd:``) gets a ``cd <folder> &&``
prefix, so a relative ``tools/train.py`` says where it runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import trainer_argv
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from hyperparameter_system.config.spec import ExperimentSpec
    from hyperparameter_system.plugin.registry import Registry

__all__ = ["child_command", "main", "plan_with_eta", "selection", "shell_line"]


def selection(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    """``--models`` / ``--categories`` as lists, None meaning "every enabled one"."""
    return (list(args.models) if args.models else None,
            list(args.categories) if args.categories else None)


def child_command(cell: Cell, python: str = sys.executable) -> list[str]:
    """The command a cell's child runs: the built-in trainer or the model's own template.

    The template is rendered as the runner renders it (its variables:
    ``config_path``, ``output_dir``, ``python``, ``run_name``, ``cell_id``,
    ``model``, ``category``, ``project``, ``overrides``).
    """
    if cell.command is None:
        return trainer_argv(cell.config_path, python=python)
    from hyperparameter_system.runner import build_argv  # the runner's own rendering, one truth

    return build_argv(cell, Path("<output_dir>"))


def shell_line(cell: Cell, start: Path | None = None) -> str:
    """The child command as one shell line, run from ``start`` (default: this process's folder).

    The runner starts the child in ``cell.cwd``; when that is another folder
    the line begins with ``cd <folder> &&`` so it can be pasted as it is.
    """
    line = shlex.join(child_command(cell))
    if cell.cwd and Path(cell.cwd).resolve() != (start or Path.cwd()).resolve():
        line = f"cd {shlex.quote(cell.cwd)} && {line}"
    return line


def plan_with_eta(spec: ExperimentSpec, registry: Registry, models: Sequence[str] | None,
                  categories: Sequence[str] | None, *, repeats: int | None = None,
                  parallel: int | None = None, rerun: str | None = None) -> tuple[list[Cell], str]:
    """The selection's cells as a run will name them, and the line saying how many are left to run.

    One count for ``--matrix``, ``--dry-run`` and the interactive menus: a
    shared cell never runs, a cell whose training finished is not left, and a failed one only
    with ``rerun`` (the store's claim rule decides).
    The store is only read (a plan writes nothing to it).

    Raises:
        HpsysError: the selection has no cells (or planning refused it).
    """
    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.runner import planning_store, store_eta_line

    with planning_store(spec.output_dir, spec.name) as store:
        # The run names a run will use: the store's creation time once there is a store.
        now = store.created_at if store is not None else datetime.now().replace(second=0, microsecond=0)
        cells = plan_matrix(spec, registry, models=models, categories=categories, repeats=repeats, now=now)
        if not cells:
            raise HpsysError("the selection has no cells (are all models or categories disabled?)")
        eta = store_eta_line(store, [c for c in cells if not c.same_as],  # shared cells never run
                             parallel or spec.execution.parallel, rerun)
    return cells, eta


def main(args: argparse.Namespace) -> int:
    """Plan the selected matrix; print it (``--matrix``) or render it (``--dry-run``)."""
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.commands.folders import check_folder, render_configs
    from hyperparameter_system.plugin.loading import load_plugins_for

    spec = load_experiment(args.config)
    registry = load_plugins_for(spec)
    models, categories = selection(args)
    cells, eta = plan_with_eta(spec, registry, models, categories,
                               repeats=getattr(args, "repeats", None), parallel=args.parallel,
                               rerun=getattr(args, "rerun", None))
    if getattr(args, "dry_run", False):
        from hyperparameter_system.commands.dry_run_files import replace_generation

        check_folder(spec.temp_config_dir, "temp_config_dir")
        render_configs(cells, spec, registry)
        replace_generation(cells, Path(spec.temp_config_dir))  # the last dry run's files of these cells go
        for cell in cells:  # a shared cell never runs: it names the cell that trains for it
            shared_line = f"# {cell.run_name}: same training as cell {cell.same_as[:12]}"
            print(shared_line if cell.same_as else shell_line(cell))
        print(f"{len(cells)} cells rendered under {spec.temp_config_dir}; {eta}")
        return 0
    _print_table(cells, spec.name, eta)
    return 0


def _print_table(cells: Sequence[Cell], experiment: str, eta: str) -> None:
    from rich.table import Table

    from hyperparameter_system.runner import pipe_console

    table = Table(title=f"{experiment}: planned cells")
    labels = {c.cell_id: "baseline" if c.is_baseline else c.option_label for c in cells}
    shared = sum(1 for c in cells if c.same_as)
    repeats = any(c.repeat for c in cells)
    columns = ["model", "category", "option", "run name", "W&B project"]
    for column in columns + ["seed"] * repeats + ["same as"] * bool(shared):
        table.add_column(column, overflow="fold")
    for cell in cells:
        row = [cell.model, cell.category, cell.option_label, cell.run_name, cell.project]
        row += [cell.seed] * repeats + [f"= {labels[cell.same_as]}" if cell.same_as else ""] * bool(shared)
        table.add_row(*(_text(v) for v in row))
    # Off a terminal (a pipe, a CI log) rich would wrap at 80 columns; keep rows whole.
    console = pipe_console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    models = len({c.model for c in cells})
    trains = f": {len(cells) - shared} train, {shared} shared (same training as the cell named)" if shared else ""
    console.print(f"{len(cells)} cells ({models} model{'' if models == 1 else 's'}){trains}; {eta}", markup=False)


def _text(value: Any) -> Any:
    from rich.text import Text

    return Text(str(value))  # user text is never parsed as rich markup
