"""The validated experiment: what ``experiment_config.yaml`` means, as frozen data.

``config.experiment`` builds these from the YAML after checking every key;
everything downstream (planning, the runner, sweeps, reports) reads only these
objects, never the raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hyperparameter_system.config.resources import DEFAULT_RESOURCES, Resources

WandbMode = Literal["auto", "online", "offline", "disabled"]
MetricGoal = Literal["maximize", "minimize"]
WandbLogging = Literal["runner", "script", "off"]
# A key_map target: None drops the key, a text renames it, pairs of
# (script key, jinja2 template of ``value``) set one or more keys from it.
KeyMapTarget = None | str | tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WandbSettings:
    """How cells log to W&B: one project per model, one run per option."""

    mode: WandbMode = "auto"
    entity: str = ""
    # jinja2 template for the project; ``model_safe`` is the model name made safe.
    project_template: str = "{{ model_safe }}"
    # jinja2 template for the run name (prefix, label, timestamp available).
    run_name_template: str = "{{ prefix }}_{{ label }}_{{ timestamp }}"


@dataclass(frozen=True)
class ExecutionSettings:
    """How the runner schedules cells."""

    parallel: int = 1  # cells at once
    devices: str = "auto"  # "auto", "cpu" or a comma list of GPU indices "0,1"
    timeout_s: float = 0.0  # per-cell wall limit (0 = none)
    retries: int = 1  # extra attempts after a crash (not after nonfinite)
    min_batch_size: int = 1  # floor for the OOM retry's batch halving
    repeats: int = 1  # trainings per cell, seeds SEED, SEED+1, ... (``--repeats`` overrides)
    backend: str = "local"  # "local" (this machine) or "ray" (a Ray cluster; ``--backend`` overrides)
    resources_per_cell: Resources = DEFAULT_RESOURCES  # what a cell asks of Ray
    shared_storage: str = "auto"  # "auto" | "yes" | "no": do Ray nodes see output_dir?


@dataclass(frozen=True)
class ModelEntry:
    """One model of the matrix.

    ``command`` is a user's own training command (a list of jinja2-templated
    arguments); None means the built-in trainer. ``metric_patterns`` maps a
    metric name to a regex with one group, read from the command's output when
    it writes no result.json.

    A command may bring its own config world: ``cwd`` (absolute; the child
    starts there, default the experiment file's folder), ``env`` (name ->
    template, never written to a file), ``schema`` (``FILE.py:NAME`` of a yacs
    CfgNode or a YAML file: the script's full defaults; with it ``base_config``
    is the script's own config file), ``overrides`` in the script's keys,
    ``key_map`` (hpsys key -> :data:`KeyMapTarget`) and ``wandb`` (who makes
    the cell's W&B run).
    """

    name: str
    enabled: bool = True
    base_config: str = ""  # path of the model profile YAML ("" = models/<name>.yaml if present)
    description: str = ""
    command: tuple[str, ...] | None = None
    metric_patterns: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    env: tuple[tuple[str, str], ...] = ()
    schema: str = ""  # "" = hpsys's own schema; else an absolute "FILE.py:NAME" or YAML path
    overrides: tuple[tuple[str, Any], ...] = ()  # dotted script key -> value (checked at plan time)
    key_map: tuple[tuple[str, KeyMapTarget], ...] = ()
    wandb: WandbLogging = "runner"
    resources: Resources = ()  # on Ray: this model's cells ask this instead of execution.resources_per_cell
    line: int = 0  # line in the experiment file, for error messages


@dataclass(frozen=True)
class CategoryEntry:
    """One category of the matrix, as the experiment file configures it.

    ``options`` are the raw option values (dicts or scalars, as the category
    plugin accepts them); ``sweep`` is an optional W&B-format sweep block.
    """

    name: str
    enabled: bool = True
    description: str = ""
    options: tuple[Any, ...] = ()
    option_lines: tuple[int, ...] = ()  # line of each option, for error messages
    prefix: str = ""  # overrides the plugin's prefix when non-empty
    label_template: str = ""  # jinja2 template overriding the plugin's label
    sweep: dict[str, Any] | None = None
    line: int = 0


@dataclass(frozen=True)
class ExperimentSpec:
    """The whole validated experiment file."""

    source_path: str  # the experiment file, as given
    name: str
    metric: str = "val/acc"
    goal: MetricGoal = "maximize"
    output_dir: str = "./output"  # results root; the store lives under <output_dir>/<name>/
    temp_config_dir: str = "./temp_configs"
    overrides: tuple[tuple[str, Any], ...] = ()  # YACS key -> value, applied to every cell
    plugin_dirs: tuple[str, ...] = ()
    include_baseline: bool = True
    wandb: WandbSettings = field(default_factory=WandbSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    models: tuple[ModelEntry, ...] = ()
    categories: tuple[CategoryEntry, ...] = ()
    # Line of every node of the source file (a ``config.yaml_source.LineIndex``), so
    # checks made later (category option fields) can still name ``path:line``;
    # None for specs built in code. ``spec.lines.line_of(("categories", "optimizer",
    # "options", 2, "lr"))`` -> int, ``spec.lines.error(keypath, reason)`` -> ConfigError.
    lines: Any = field(default=None, compare=False, repr=False)
