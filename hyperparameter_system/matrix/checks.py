"""Value checks at plan time: the trainer's own rules, located where the user wrote the value.

A value the child would refuse (``SOLVER.MAX_EPOCHS: 0``, a metric it never
produces, ``INPUT.HFLIP_PROB: 5.0``) must fail ``--matrix`` with the file and
line, not launch every cell to fail one by one. The rules live once in
``config/values.py``; this module only finds *where* a bad value came from:
the experiment's ``metric`` or ``overrides``, the model profile, or a category
option (the experiment file's, or a YAML category file's own).

The rules are the built-in trainer's, so they apply to models without a
``command:``. A model with its own command is checked for the one thing hpsys
itself relies on: the experiment metric must be one of its ``metric_patterns``
(when it declares none, the script writes its own result file and may report
any name, which only the run can show).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from hyperparameter_system.config.values import first_problem
from hyperparameter_system.config.yaml_source import KeyPath, LineIndex, load_yaml_with_lines
from hyperparameter_system.errors import ConfigError, HpsysError

if TYPE_CHECKING:
    from hyperparameter_system.category import BaseCategory
    from hyperparameter_system.config.spec import ExperimentSpec, ModelEntry

__all__ = ["check_base", "check_option_changes", "option_source"]

_FROM_SPEC = {"METRIC.NAME": ("experiment", "metric"), "METRIC.GOAL": ("experiment", "metric"),
              "WANDB.MODE": ("wandb", "mode")}


def check_base(spec: ExperimentSpec, entry: ModelEntry, flat: Mapping[str, Any], profile: Path | None) -> None:
    """Check one model's base config (defaults <- profile <- overrides <- metric).

    Raises:
        ConfigError: at the experiment file's line of the metric or override, or
            at the profile's line, naming the key, the rule and the value.
    """
    if entry.command is not None:
        _check_command_metric(spec, entry)
        return
    problem = first_problem(flat)
    if problem is None:
        return
    key, reason = problem
    overrides = dict(spec.overrides)
    if key in _FROM_SPEC:
        keypath: KeyPath = _FROM_SPEC[key]
        if key == "METRIC.NAME":
            reason = f"the built-in trainer (model {entry.name}) does not produce {flat[key]!r}; {reason}"
        raise _error(spec.lines, spec.source_path, keypath, f"{key}: {reason}")
    if key in overrides:
        raise _error(spec.lines, spec.source_path, _override_path(spec.lines, key), reason)
    if profile is not None:
        _, index = load_yaml_with_lines(profile)
        raise _error(index, str(profile), _override_path(index, key, ()), reason)
    raise HpsysError(f"{key}: {reason} (in the config defaults of model {entry.name})")


def check_option_changes(changes: list[tuple[str, Any]]) -> tuple[str, str] | None:
    """The first ``(key, reason)`` among a category option's YACS changes, or None."""
    return first_problem(dict(changes))


def option_source(category: BaseCategory, index: int, key: str | None = None) -> tuple[str, int] | None:
    """``(file, line)`` of option ``index`` (or of its ``key``) of a YAML category's own options, when known."""
    lines = getattr(category, "option_lines", ())
    source = getattr(category, "source", "")
    if not source or index >= len(lines):
        return None
    key_lines = getattr(category, "key_lines", ())
    line = key_lines[index].get(key, 0) if key is not None and index < len(key_lines) else 0
    return source, line or lines[index]


def _check_command_metric(spec: ExperimentSpec, entry: ModelEntry) -> None:
    names = [name for name, _ in entry.metric_patterns]
    if names and spec.metric not in names:
        raise _error(spec.lines, spec.source_path, ("experiment", "metric"),
                     f"model {entry.name} (line {entry.line}) reads its metrics with metric_patterns "
                     f"({', '.join(names)}), which has no {spec.metric!r}: add a pattern for it, or drop "
                     "metric_patterns if its script writes result.json itself")


def _override_path(index: LineIndex | None, key: str, prefix: KeyPath = ("experiment", "overrides")) -> KeyPath:
    """The key path of a YACS key as written: dotted (``SOLVER.MAX_EPOCHS``) or nested."""
    nested = prefix + tuple(key.split("."))
    if index is not None and nested in index.key_lines:
        return nested
    return prefix + (key,)


def _error(index: LineIndex | None, path: str, keypath: KeyPath, reason: str) -> ConfigError:
    if index is None:
        return ConfigError(path, 0, ".".join(str(p) for p in keypath), reason)
    return index.error(keypath, reason)
