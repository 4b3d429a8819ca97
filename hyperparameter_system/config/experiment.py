"""Load and check ``experiment_config.yaml`` into a frozen :class:`ExperimentSpec`.

The experiment file is the only thing a user edits by hand for a week of runs,
so every mistake in it must surface before the first cell starts, as one line
``path:line: key: reason`` (a :class:`ConfigError`). This module checks the
file's *structure*: known keys, types, ranges, enums, YACS override keys and
values, regexes and jinja2 template syntax. Category option values and
model/category names need the plugins and are checked by the matrix generator,
which finds their lines through ``spec.lines`` (a :class:`LineIndex`).

Relative paths are resolved against the experiment file's directory, so a
file behaves the same whatever directory the command is started from.
Nothing is written and neither torch nor wandb is imported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from hyperparameter_system.config.spec import (
    CategoryEntry,
    ExecutionSettings,
    ExperimentSpec,
    WandbSettings,
)
from hyperparameter_system.config.model_entries import read_models
from hyperparameter_system.config.resources import read_resources
from hyperparameter_system.config.goal import GOALS, Goal
from hyperparameter_system.config.yacs_keys import check_mapping, describe
from hyperparameter_system.config.yaml_source import KeyPath, LineIndex, load_yaml_with_lines
from hyperparameter_system.errors import did_you_mean

__all__ = ["DEFAULT_CONFIG", "load_experiment"]

DEFAULT_CONFIG = "experiment_config.yaml"  # what every command reads without --config

_TOP_KEYS = ("experiment", "wandb", "execution", "models", "categories")
_EXPERIMENT_KEYS = ("name", "metric", "output_dir", "temp_config_dir", "overrides", "plugin_dirs",
                    "include_baseline")
_METRIC_KEYS = ("name", "goal")
_WANDB_KEYS = ("mode", "entity", "project", "run_name")
_EXECUTION_KEYS = ("parallel", "devices", "timeout", "retries", "min_batch_size", "repeats", "backend",
                   "resources_per_cell", "shared_storage")
_CATEGORY_KEYS = ("enabled", "description", "options", "prefix", "label", "sweep")
BACKENDS = ("local", "ray")
SHARED_CHOICES = ("auto", "yes", "no")
_DEVICES_RE = re.compile(r"^(auto|cpu|\d+(,\d+)*)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")

_MISSING = object()


def load_experiment(path: str) -> ExperimentSpec:
    """Read, check and resolve one experiment file.

    Args:
        path: The experiment YAML; messages name it exactly as given.

    Returns:
        The validated experiment with absolute paths and ``lines`` set.

    Raises:
        ConfigError: on the first problem found, located at ``path:line``.
    """
    data, index = load_yaml_with_lines(path)
    reader = _Reader(index, Path(path).resolve().parent)
    top = reader.mapping((), data, _TOP_KEYS)
    experiment = reader.mapping(("experiment",), top.get("experiment", _MISSING), _EXPERIMENT_KEYS,
                                required=("name",))
    return _build_spec(reader, str(path), top, experiment)


def _build_spec(reader: _Reader, path: str, top: dict[str, Any], experiment: dict[str, Any]) -> ExperimentSpec:
    key = ("experiment",)
    metric, goal = _metric(reader, experiment.get("metric"))
    return ExperimentSpec(
        source_path=path,
        name=_experiment_name(reader, experiment["name"]),
        metric=metric,
        goal=goal,
        output_dir=reader.path(key + ("output_dir",), experiment.get("output_dir", "./output")),
        temp_config_dir=reader.path(key + ("temp_config_dir",),
                                    experiment.get("temp_config_dir", "./temp_configs")),
        overrides=_overrides(reader, experiment.get("overrides")),
        plugin_dirs=_plugin_dirs(reader, experiment.get("plugin_dirs")),
        include_baseline=reader.boolean(key + ("include_baseline",), experiment.get("include_baseline", True)),
        wandb=_wandb(reader, top.get("wandb")),
        execution=_execution(reader, top.get("execution")),
        models=read_models(reader, [] if "models" not in top else top["models"]),
        categories=_categories(reader, top.get("categories")),
        lines=reader.index,
    )


def _experiment_name(reader: _Reader, value: Any) -> str:
    """The name becomes folder names (output, temp configs), so it must stay one safe path part."""
    name = reader.text(("experiment", "name"), value, required=True)
    if not _NAME_RE.fullmatch(name):
        raise reader.index.error(("experiment", "name"), "may use only letters, digits, '.', '_' and '-' "
                                                         f"and not start with '.' (it names folders), got {name!r}")
    return name


def _metric(reader: _Reader, value: Any) -> tuple[str, str]:
    """``metric: {name, goal}`` or the shorthand ``metric: val/loss``.

    Without a goal, a metric whose name mentions "loss" or "error" is minimised
    and any other maximised: the safe guess for accuracy-like and loss-like names.
    """
    key: KeyPath = ("experiment", "metric")
    if value is None:
        return "val/acc", "maximize"
    fields = {"name": value} if isinstance(value, str) else reader.mapping(key, value, _METRIC_KEYS,
                                                                          required=("name",))
    name = reader.text(key + ("name",), fields["name"], required=True)
    goal = reader.choice(key + ("goal",), fields.get("goal", Goal.for_metric(name).value), GOALS)
    return name, goal


def _overrides(reader: _Reader, value: Any) -> tuple[tuple[str, Any], ...]:
    """YACS key -> value, dotted (``SOLVER.MAX_EPOCHS: 2``) or nested (``SOLVER: {MAX_EPOCHS: 2}``)."""
    key: KeyPath = ("experiment", "overrides")
    return tuple(check_mapping(reader.mapping(key, value, None), reader.index, key).items())


def _plugin_dirs(reader: _Reader, value: Any) -> tuple[str, ...]:
    key: KeyPath = ("experiment", "plugin_dirs")
    items = reader.sequence(key, [value] if isinstance(value, str) else value)
    dirs = tuple(reader.path(key + (i,), item) for i, item in enumerate(items))
    for i, folder in enumerate(dirs):
        if not Path(folder).is_dir():
            raise reader.index.error(key + (i,), f"plugin directory not found: {folder}")
    return dirs


def _wandb(reader: _Reader, value: Any) -> WandbSettings:
    key: KeyPath = ("wandb",)
    fields = reader.mapping(key, value, _WANDB_KEYS)
    default = WandbSettings()
    return WandbSettings(
        mode=reader.choice(key + ("mode",), fields.get("mode", default.mode),
                           ("auto", "online", "offline", "disabled")),
        entity=reader.text(key + ("entity",), fields.get("entity", default.entity)),
        project_template=reader.template(key + ("project",), fields.get("project", default.project_template),
                                         required=True),
        run_name_template=reader.template(key + ("run_name",),
                                          fields.get("run_name", default.run_name_template), required=True),
    )


def _execution(reader: _Reader, value: Any) -> ExecutionSettings:
    key: KeyPath = ("execution",)
    fields = reader.mapping(key, value, _EXECUTION_KEYS)
    default = ExecutionSettings()
    return ExecutionSettings(
        parallel=reader.integer(key + ("parallel",), fields.get("parallel", default.parallel), minimum=1),
        devices=_devices(reader, fields.get("devices", default.devices)),
        timeout_s=reader.number(key + ("timeout",), fields.get("timeout", default.timeout_s), minimum=0),
        retries=reader.integer(key + ("retries",), fields.get("retries", default.retries), minimum=0),
        min_batch_size=reader.integer(key + ("min_batch_size",),
                                      fields.get("min_batch_size", default.min_batch_size), minimum=1),
        repeats=reader.integer(key + ("repeats",), fields.get("repeats", default.repeats), minimum=1),
        backend=reader.choice(key + ("backend",), fields.get("backend", default.backend), BACKENDS),
        resources_per_cell=read_resources(reader, key + ("resources_per_cell",), fields["resources_per_cell"])
        if "resources_per_cell" in fields else default.resources_per_cell,
        shared_storage=reader.choice(key + ("shared_storage",),
                                     _yes_no(fields.get("shared_storage", default.shared_storage)), SHARED_CHOICES),
    )


def _yes_no(value: Any) -> Any:
    """YAML reads a bare yes/no as a boolean; shared_storage means the same words."""
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


def _devices(reader: _Reader, value: Any) -> str:
    """``auto``, ``cpu`` or GPU indices: ``"0,1"``, ``0`` or ``[0, 1]`` all read as ``"0,1"``."""
    key: KeyPath = ("execution", "devices")
    if isinstance(value, list) and value and all(type(v) is int for v in value):
        value = ",".join(str(v) for v in value)
    elif type(value) is int:
        value = str(value)
    text = reader.text(key, value).replace(" ", "")
    if not _DEVICES_RE.fullmatch(text):
        raise reader.index.error(key, f"expected auto, cpu or GPU indices like 0,1, got {text!r}")
    indices = text.split(",")
    if len(set(indices)) != len(indices):
        raise reader.index.error(key, f"GPU index listed twice in {text!r}")
    return text


def _categories(reader: _Reader, value: Any) -> tuple[CategoryEntry, ...]:
    entries = []
    for name, entry in reader.mapping(("categories",), value, None).items():
        entries.append(_category(reader, ("categories", name), {"options": entry} if isinstance(entry, list)
                                 else entry))
    return tuple(entries)


def _category(reader: _Reader, key: KeyPath, value: Any) -> CategoryEntry:
    """One category entry; without ``options`` it runs the category's own defaults
    (a YAML category file's options), which the matrix generator checks exist."""
    fields = reader.mapping(key, value, _CATEGORY_KEYS)
    options = reader.sequence(key + ("options",), fields.get("options"))
    if not options and "options" in fields:
        raise reader.index.error(key + ("options",), "options must list at least one option")
    for i, option in enumerate(options):
        if option is None:
            raise reader.index.error(key + ("options", i), "empty option")
    sweep = fields.get("sweep")
    return CategoryEntry(
        name=str(key[-1]),
        enabled=reader.boolean(key + ("enabled",), fields.get("enabled", True)),
        description=reader.text(key + ("description",), fields.get("description", "")),
        options=tuple(options),
        option_lines=tuple(reader.index.line_of(key + ("options", i)) for i in range(len(options))),
        prefix=reader.text(key + ("prefix",), fields.get("prefix", "")),
        label_template=reader.template(key + ("label",), fields.get("label", "")),
        sweep=None if sweep is None else reader.mapping(key + ("sweep",), sweep, None),
        line=reader.index.line_of(key),
    )


class _Reader:
    """Typed access to raw YAML values; each check raises a located ConfigError."""

    def __init__(self, index: LineIndex, base_dir: Path) -> None:
        self.index = index
        self.base_dir = base_dir
        self._jinja = jinja2.Environment()

    def mapping(self, key: KeyPath, value: Any, allowed: tuple[str, ...] | None,
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        """A mapping with string keys; ``allowed`` None accepts any key, null reads as empty."""
        if value is _MISSING:
            raise self.index.error(key, "required section missing")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.index.error(key, f"expected mapping, got {describe(value)}")
        for name in value:
            if not isinstance(name, str):
                raise self.index.error(key + (name,), f"expected a text key, got {describe(name)}")
            if allowed is not None and name not in allowed:
                raise self.index.error(key + (name,), f"unknown key{did_you_mean(name, allowed)}"
                                                          f" (known: {', '.join(allowed)})")
        for name in required:
            if name not in value:
                raise self.index.error(key + (name,), "required key missing")
        return value

    def sequence(self, key: KeyPath, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.index.error(key, f"expected list, got {describe(value)}")
        return value

    def text(self, key: KeyPath, value: Any, required: bool = False) -> str:
        if not isinstance(value, str):
            raise self.index.error(key, f"expected str, got {describe(value)}")
        if required and not value.strip():
            raise self.index.error(key, "must not be empty")
        return value

    def boolean(self, key: KeyPath, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.index.error(key, f"expected bool (true/false), got {describe(value)}")
        return value

    def integer(self, key: KeyPath, value: Any, minimum: int) -> int:
        if type(value) is not int:
            raise self.index.error(key, f"expected int, got {describe(value)}")
        if value < minimum:
            raise self.index.error(key, f"must be >= {minimum}, got {value}")
        return value

    def number(self, key: KeyPath, value: Any, minimum: float) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise self.index.error(key, f"expected a number, got {describe(value)}")
        if value < minimum:
            raise self.index.error(key, f"must be >= {minimum}, got {value}")
        return float(value)

    def choice(self, key: KeyPath, value: Any, choices: tuple[str, ...]) -> Any:
        if value not in choices or not isinstance(value, str):
            shown = describe(value) if not isinstance(value, str) else repr(value)
            raise self.index.error(key, f"expected one of {', '.join(choices)}, got {shown}"
                                        f"{did_you_mean(str(value), choices)}")
        return value

    def template(self, key: KeyPath, value: Any, required: bool = False) -> str:
        """A jinja2 template string, syntax-checked now so a typo fails at plan time."""
        text = self.text(key, value, required)
        try:
            self._jinja.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise self.index.error(key, f"invalid jinja2 template {text!r}: {exc.message}") from None
        return text

    def path(self, key: KeyPath, value: Any) -> str:
        """An absolute path; a relative one is taken from the experiment file's folder."""
        text = self.text(key, value, required=True)
        return str((self.base_dir / Path(text).expanduser()).resolve())
