"""Check a sweep's values before its first trial: every listed value, both bounds.

A sweep over ``optimizer: {values: [adam, sgd]}`` used to start, run every
trial into the same refusal and leave no reason in the trial table. Here each
value a parameter lists (and each bound of a distribution) is planned as a
trial would be, through the category's ``validate`` and the trainer's value
rules, with the other parameters at one of their own values; the first value
refused is one ``path:line: key: reason`` at the line that lists it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Hashable

from hyperparameter_system.config.yaml_source import LineIndex, dotted, load_yaml_with_lines
from hyperparameter_system.errors import ConfigError, HpsysError
from hyperparameter_system.sweeps.space import probes, representative

if TYPE_CHECKING:
    from hyperparameter_system.config.spec import ExperimentSpec
    from hyperparameter_system.plugin.registry import Registry

__all__ = ["check_new_sweep", "check_sweep_values"]


def check_sweep_values(planner: Any) -> None:
    """Plan one trial per probed value of every parameter of ``planner.sweep``.

    Args:
        planner: The sweep's :class:`~hyperparameter_system.sweeps.trial.TrialPlanner`.

    Raises:
        ConfigError: a value its category or the trainer refuses, at its line.
        HpsysError: the category plugin's own search space holds such a value.
    """
    parameters = planner.sweep.parameters
    base = {name: representative(spec) for name, spec in parameters.items()}
    for name, spec in parameters.items():
        for value, path in probes(spec):
            point = {**base, name: value}
            try:
                planner.plan(point, 0)  # the trial's own planning, nothing rendered
            except ConfigError as error:
                raise _located(planner, ("parameters", name, *path), f"{value!r} is refused: {error.reason}",
                               error) from None


def _located(planner: Any, keypath: tuple[Hashable, ...], reason: str, cause: ConfigError) -> HpsysError:
    """The error at the line that lists the value: the sweep file, the experiment's block, or the plugin.

    A plugin's own space has no line the user wrote; its value is refused by
    something the user wrote (a model's key_map, an override), so the error
    stands at that line (``cause``'s), else at the category's line.
    """
    spec, sweep = planner.spec, planner.sweep
    if planner.from_file:
        _, index = load_yaml_with_lines(sweep.source)
        return index.error(_as_written(index, (), keypath), reason)
    entry = next((c for c in spec.categories if c.name == planner.category), None)
    prefix: tuple[Hashable, ...] = ("categories", str(planner.category), "sweep")
    if entry is not None and isinstance(entry.sweep, dict) and "parameters" in entry.sweep:
        if spec.lines is None:
            return ConfigError(spec.source_path, 0, dotted(prefix + keypath), reason)
        return spec.lines.error(_as_written(spec.lines, prefix, keypath), reason)
    reason = f"category {planner.category!r}: its sweep_parameters() {dotted(keypath)}: {reason}"
    origin = cause.__cause__ if isinstance(cause.__cause__, ConfigError) else cause  # what the planner refused
    if origin.line:
        return ConfigError(origin.path, origin.line, origin.key, reason)
    if spec.lines is not None:
        return spec.lines.error(("categories", str(planner.category)), reason)
    return ConfigError(spec.source_path, 0, dotted(("categories", str(planner.category))), reason)


def _as_written(index: LineIndex, prefix: tuple[Hashable, ...], keypath: tuple[Hashable, ...]
                ) -> tuple[Hashable, ...]:
    """The key path as the file writes it: a bare list (``lr: [0.1, 1]``) has no ``values`` key."""
    full = prefix + keypath
    if full in index.key_lines or "values" not in keypath:
        return full
    bare = prefix + tuple(part for part in keypath if part != "values")
    return bare if bare in index.key_lines else full


def check_new_sweep(spec: ExperimentSpec, registry: Registry, model: str, category: str | None, *,
                    sweep_file: str | None, method: str | None) -> None:
    """Resolve a new sweep and check its values, before a store or a config file is written."""
    from hyperparameter_system.sweeps.sources import resolve_sweep
    from hyperparameter_system.sweeps.trial import TrialPlanner

    sweep, from_file = resolve_sweep(spec, registry, category, sweep_file=sweep_file, method=method)
    check_sweep_values(TrialPlanner(spec, registry, model, category, sweep, "check", datetime.now(), from_file))
