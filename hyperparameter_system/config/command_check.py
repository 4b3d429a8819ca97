"""A model's own ``command:`` and ``env:``, rendered and checked when the matrix is planned.

The templates are rendered with each cell's real variables (only the attempt
folder, which exists once an attempt starts, is a stand-in), so a misspelt
variable or a template that raises fails ``--matrix`` at its line instead of
every cell at launch. The program itself (``argv[0]`` after rendering) must
exist and be executable: relative to the model's ``cwd`` when it names a
path, else on ``PATH``, exactly as the child is started.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.config.templates import (TemplateRenderError, flat_overrides, render_command,
                                                    render_env, template_variables)
from hyperparameter_system.errors import ConfigError

__all__ = ["check_command"]

ErrorAt = Callable[..., ConfigError]  # MatrixContext.error(keypath, reason, line=0)
ATTEMPT_STAND_IN = "<output_dir>"  # the attempt folder is known only at launch


def check_command(cell: Cell, index: int, error: ErrorAt, checked: set[tuple[str, str]]) -> None:
    """Render the cell's argv and env; check its program once per model (``checked`` remembers)."""
    overrides = flat_overrides(cell.overrides)
    variables = template_variables(cell, Path(ATTEMPT_STAND_IN), overrides)
    try:
        argv = render_command(cell.command or (), variables, overrides)
        render_env(cell.env, variables)
    except TemplateRenderError as exc:
        field = "env" if isinstance(exc.key, str) else "command"
        raise error(("models", index, field, exc.key), f"model {cell.model}, cell {cell.run_name}: {exc}") from None
    if not argv:
        raise error(("models", index, "command"), "the rendered command is empty")
    if (cell.model, argv[0]) in checked:
        return
    problem = _program_problem(argv[0], cell.cwd)
    if problem:
        raise error(("models", index, "command", 0), f"model {cell.model}: {problem}")
    checked.add((cell.model, argv[0]))


def _program_problem(program: str, cwd: str) -> str:
    """Why ``program`` cannot be started from ``cwd`` ("" when it can)."""
    if os.sep not in program:
        return "" if shutil.which(program) else f"program {program!r} is not on PATH"
    path = Path(cwd or ".") / program
    if not path.is_file():
        return f"program {program!r} not found (looked for {path})"
    if not os.access(path, os.X_OK):
        return f"program {program!r} is not executable (chmod +x {path}, or start it with an interpreter)"
    return ""
