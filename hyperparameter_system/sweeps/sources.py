"""Which sweep to run: the file, the category's ``sweep:`` block or the plugin's space.

Also decides the method when nobody named one (grid when every parameter can
be enumerated, else random), and turns a :class:`SweepSpec` into the JSON the
``sweeps`` table keeps, so ``--sweep-id`` continues with exactly the stored
configuration even if the files changed since.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperparameter_system.errors import ConfigError, HpsysError
from hyperparameter_system.sweeps.config import SweepSpec, block_locator, check_method, load_sweep_file, parse_sweep

if TYPE_CHECKING:
    from hyperparameter_system.config.spec import ExperimentSpec
    from hyperparameter_system.plugin.registry import Registry

__all__ = ["resolve_sweep", "spec_from_json", "spec_to_json"]


def resolve_sweep(spec: ExperimentSpec, registry: Registry, category: str | None, *, sweep_file: str | None,
                  method: str | None) -> tuple[SweepSpec, bool]:
    """The checked sweep and whether it came from a file.

    Args:
        spec: The experiment.
        registry: Loaded plugins (for the category's own search space).
        category: The swept category (None only with a sweep file).
        sweep_file: ``--sweep-config``.
        method: ``--method`` (wins over the file's).
    """
    if sweep_file:
        sweep = load_sweep_file(sweep_file, metric=spec.metric, goal=spec.goal)
    elif category:
        sweep = _from_category(spec, registry, category)
    else:
        raise HpsysError("a sweep needs --categories C (its search space) or --sweep-config FILE")
    chosen = method or sweep.method or ("grid" if sweep.grid_size() is not None else "random")
    sweep = dataclasses.replace(sweep, method=chosen)
    check_method(sweep, lambda keypath, reason: ConfigError(sweep.source, 0, "method", f"{chosen}: {reason}"))
    return sweep, bool(sweep_file)


def _from_category(spec: ExperimentSpec, registry: Registry, name: str) -> SweepSpec:
    category = registry.category(name)
    entry = next((c for c in spec.categories if c.name == name), None)
    plugin_space = category.sweep_parameters() or None
    block = entry.sweep if entry is not None else None
    if block is None:
        if not plugin_space:
            raise HpsysError(f"category {name!r} has no search space: add a sweep: block with parameters"
                             f" under categories.{name} in {spec.source_path}, or pass --sweep-config FILE")
        block = {}
    prefix = ("categories", name, "sweep")
    locate = block_locator(spec.lines, spec.source_path, prefix)
    if not isinstance(block, dict):
        raise locate((), "sweep must be a mapping (method, parameters, early_terminate, ...)")
    try:
        return parse_sweep(block, locate, metric=spec.metric, goal=spec.goal,
                           base_dir=Path(spec.source_path).resolve().parent,
                           source=f"{spec.source_path}:categories.{name}.sweep" if entry and entry.sweep
                           else f"category {name} (plugin search space)",
                           require_parameters=False, fallback_parameters=plugin_space)
    except ConfigError as error:
        if entry is None or entry.sweep is None:  # the plugin's own space is broken: a plugin bug
            raise HpsysError(f"category {name!r}: its sweep_parameters() is not valid W&B syntax: "
                             f"{error.reason}") from None
        raise


def spec_to_json(sweep: SweepSpec, *, from_file: bool) -> dict[str, Any]:
    return {**dataclasses.asdict(sweep), "from_file": from_file}


def spec_from_json(data: dict[str, Any]) -> tuple[SweepSpec, bool]:
    fields = {f.name for f in dataclasses.fields(SweepSpec)}
    return SweepSpec(**{k: v for k, v in data.items() if k in fields}), bool(data.get("from_file"))
