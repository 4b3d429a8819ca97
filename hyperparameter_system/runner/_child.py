"""What one child process gets: its argv, its environment and its output directory.

The argv is always a list (never a shell string), so no value a user writes can
reach a shell. Secrets (``WANDB_API_KEY`` and friends) reach the child only by
inheritance of the runner's own environment; nothing here writes them anywhere.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.user_command import wrapper_argv
from hyperparameter_system.config.templates import flat_overrides, template_variables
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.matrix.naming import safe_name
from hyperparameter_system.runner._devices import Slot
from hyperparameter_system.runner._process import CHILD_LOG


@dataclass(frozen=True)
class ChildSpec:
    """Everything needed to start one attempt of a cell."""

    argv: list[str]
    env: dict[str, str]
    output_dir: Path
    log_path: Path
    wandb_run_id: str
    cwd: str = ""  # the folder the child starts in ("" = the runner's own)
    # The built-in trainer's arguments (argv after ``python -m hyperparameter_system.train``):
    # such a child can start warm, forked by the fork server. None for a model's own command.
    trainer_args: tuple[str, ...] | None = None


def attempt_dir(output_root: Path, cell: Cell, attempt: int) -> Path:
    """``<output_dir>/<experiment>/<project>/<run_name>/attempt-<n>`` (a fresh dir per try)."""
    return output_root / safe_name(cell.project) / safe_name(cell.run_name) / f"attempt-{attempt}"


def wandb_run_id(cell: Cell, attempt: int) -> str:
    """Stable per cell attempt, so a re-launched attempt never collides with another run."""
    return f"{safe_name(cell.cell_id)[:24]}-a{attempt}".replace(".", "_").replace("+", "_")


def trainer_args(cell: Cell, retry_overrides: Sequence[tuple[str, Any]] = ()) -> list[str]:
    """The built-in trainer's arguments: its config file and a retry's overrides.

    The attempt's output folder is not among them: the runner hands it to every
    child, built-in or not, through one channel, ``HPS_OUTPUT_DIR`` (see
    :func:`build_env`); the rendered config's own OUTPUT_DIR serves a run by hand.
    """
    return cc.trainer_argv(cell.config_path, flat_overrides(retry_overrides))[1 + len(cc.TRAINER_PREFIX):]


def build_argv(cell: Cell, output_dir: Path, retry_overrides: Sequence[tuple[str, Any]] = ()) -> list[str]:
    """The child command: the built-in trainer, or the model's own ``command:`` template."""
    if cell.command is None:
        return [sys.executable, *cc.TRAINER_PREFIX, *trainer_args(cell, retry_overrides)]
    overrides = flat_overrides((*cell.overrides, *retry_overrides))
    argv = _render_command(cell.command, template_variables(cell, output_dir, overrides), overrides)
    # The wrapper reads the metrics off the command's output into the contract files, or follows
    # the files a command without metric_patterns writes itself; either way it makes the W&B run.
    return wrapper_argv(argv, patterns=cell.metric_patterns, wandb_logging=cell.wandb_logging,
                        config_path=cell.config_path)


def render_env(cell: Cell, output_dir: Path, retry_overrides: Sequence[tuple[str, Any]] = ()) -> dict[str, str]:
    """The model's ``env:`` with its templates rendered (values live only in the child's environment).

    The planner rendered the same templates with the same variables, so a
    failure here is a bug, not a user's mistake.
    """
    if not cell.env:
        return {}
    from hyperparameter_system.config.templates import TemplateRenderError, render_env as render_pairs

    variables = template_variables(cell, output_dir, flat_overrides((*cell.overrides, *retry_overrides)))
    try:
        return render_pairs(cell.env, variables)
    except TemplateRenderError as error:
        raise HpsysError(f"env: {error.key}: {error}") from error


def _render_command(template: Sequence[str], variables: Mapping[str, str], overrides: list[str]) -> list[str]:
    from hyperparameter_system.config.templates import TemplateRenderError, render_command

    try:
        return render_command(template, variables, overrides)
    except TemplateRenderError as error:
        raise HpsysError(f"command[{error.key}]: {error}") from error


def build_env(cell: Cell, *, attempt: int, slot: Slot, output_dir: Path, wandb_mode: str,
              run_id: str, base: Mapping[str, str] | None = None,
              extra: Sequence[tuple[str, str]] = (), own: Mapping[str, str] | None = None) -> dict[str, str]:
    """The runner's own environment, ``extra``, the model's ``own`` env, then the W&B and HPS_* variables.

    The W&B and HPS_* variables come last: a model's env cannot break the
    one-project-per-model promise or the child contract.
    """
    env = dict(os.environ if base is None else base)
    env.update(extra)
    env.update(own or {})
    env.update({
        "WANDB_PROJECT": cell.project,
        "WANDB_NAME": cell.run_name,
        "WANDB_RUN_GROUP": cell.group,
        "WANDB_RUN_ID": run_id,
        "WANDB_TAGS": ",".join(cell.tags),
        "WANDB_MODE": wandb_mode,
        "WANDB_DIR": str(output_dir),
        "CUDA_VISIBLE_DEVICES": slot.cuda_visible_devices,
        cc.ENV_CELL_ID: cell.cell_id,
        cc.ENV_ATTEMPT: str(attempt),
        cc.ENV_OUTPUT_DIR: str(output_dir),
        cc.ENV_EXPERIMENT: cell.experiment,
        cc.ENV_TORCH_THREADS: str(slot.torch_threads),
        "OMP_NUM_THREADS": str(slot.torch_threads),
        "PYTHONUNBUFFERED": "1",
    })
    if wandb_mode == "disabled":
        env["WANDB_DISABLED"] = "true"
    return env


def child_spec(cell: Cell, *, attempt: int, slot: Slot, output_root: Path, wandb_mode: str,
               retry_overrides: Sequence[tuple[str, Any]] = (),
               extra_env: Sequence[tuple[str, str]] = ()) -> ChildSpec:
    """Assemble argv, env and paths for one attempt (creates nothing on disk)."""
    out = attempt_dir(output_root, cell, attempt)
    run_id = wandb_run_id(cell, attempt)
    return ChildSpec(argv=build_argv(cell, out, retry_overrides),
                     env=build_env(cell, attempt=attempt, slot=slot, output_dir=out,
                                   wandb_mode=wandb_mode, run_id=run_id, extra=extra_env,
                                   own=render_env(cell, out, retry_overrides)),
                     output_dir=out, log_path=out / CHILD_LOG, wandb_run_id=run_id, cwd=cell.cwd,
                     trainer_args=None if cell.command else tuple(trainer_args(cell, retry_overrides)))
