"""The W&B run the command wrapper makes for a user's script (``wandb: runner``).

It is the built-in trainer's :class:`~hyperparameter_system.tracking.wandb_run.WandbRun`
with the same ``init_kwargs`` (project, name, group, tags and id from the
runner's ``WANDB_*`` variables, offline runs under the attempt's folder); only
the run config differs: the script's own rendered config, the file the script
reads. Each parsed evaluation is logged with its epoch as the step.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hyperparameter_system.tracking.wandb_run import WandbRun

log = logging.getLogger("hyperparameter_system.user_command")


class ScriptConfig(dict):  # type: ignore[type-arg]
    """A script's config as ``init_kwargs`` reads a YACS config: items are the run config,
    ``WANDB`` the naming defaults (the runner's ``WANDB_*`` variables win over them)."""

    def __init__(self, values: dict[str, Any]) -> None:
        from hyperparameter_system.config.defaults import get_cfg_defaults

        super().__init__(values)
        self.WANDB = get_cfg_defaults().WANDB


class ScriptRun(WandbRun):
    """A :class:`WandbRun` whose evaluations are a script's parsed metrics, stepped by epoch."""

    def log_evaluation(self, record: dict[str, Any]) -> None:
        if self.active:
            step = record.get("epoch")  # a script's own metrics.jsonl line may lack it
            self._guard("log", lambda: self.run.log(dict(record), step=step if isinstance(step, int) else None))


def read_config(config_path: str) -> dict[str, Any]:
    """The rendered config as a mapping; {} when it cannot be read (logging never fails a cell)."""
    import yaml

    try:
        data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        log.warning("W&B run config left empty: cannot read %s: %s", config_path, error)
        return {}
    return data if isinstance(data, dict) else {}


def start_tracking(config_path: str, output_dir: Path) -> ScriptRun | None:
    """Open the cell's W&B run, or None when the resolved mode is ``disabled`` (wandb not imported)."""
    try:
        run = ScriptRun(ScriptConfig(read_config(config_path) if config_path else {}), output_dir)
    except Exception as error:  # a config W&B cannot take must not cost the cell its result
        log.warning("W&B is off for this run: %s: %s", type(error).__name__, error)
        return None
    if run.mode == "disabled":
        return None
    run.start()
    return run if run.active else None
