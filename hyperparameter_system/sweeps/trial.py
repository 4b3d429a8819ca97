"""From a sampled point to a runnable trial cell.

A trial is a matrix cell like any other: the point's category fields become a
category option (``category.option_from_sweep`` -> ``validate``), its YACS
parameters become experiment-level overrides, and the matrix generator plans
the cell once, with the trial's own identity, before its config is rendered
(so the file's header and W&B fields are the trial's): each trial is its own cell
(``sha256(config id, sweep id, trial number)``) with the run name
``<matrix run name>_<sweep id>-t<NNN>`` (for a point of YACS keys alone, the run
name of a ``sweep`` option labelled with its values), so two trials that draw the same point,
or a trial equal to a matrix cell, never share a row in the store.

Where each parameter goes (``route``):

* from a sweep *file*: the file's ``parameter_map``, then the default
  name -> YACS table, then a dotted YACS key as written, then the category's
  own sweep fields;
* from the category (its ``sweep:`` block or the plugin's space): the
  category's fields, except ``parameter_map`` entries and dotted YACS keys.

A YACS key outside hpsys's schema (``SOLVER.MARGIN``) reaches only a model
with its own ``command:`` (through ``{{ overrides }}``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from hyperparameter_system.matrix.cell import BASELINE, Cell
from hyperparameter_system.config.yacs_keys import suggest_key
from hyperparameter_system.errors import ConfigError
from hyperparameter_system.matrix.naming import MAX_NAME_LENGTH, format_number, safe_name
from hyperparameter_system.sweeps.config import SweepSpec
from hyperparameter_system.sweeps.yacs_map import check_value, in_schema, is_yacs_key, resolve_key

if TYPE_CHECKING:
    from hyperparameter_system.config.spec import ExperimentSpec
    from hyperparameter_system.matrix.context import MatrixContext
    from hyperparameter_system.plugin.registry import Registry

__all__ = ["TrialPlanner", "trial_cell_id"]

SWEEP_CATEGORY = "sweep"  # the category of trials of a sweep that names none


def trial_cell_id(config_cell_id: str, sweep_id: str, trial: int) -> str:
    return hashlib.sha256(f"{config_cell_id}:{sweep_id}:{trial}".encode()).hexdigest()


@dataclass
class TrialPlanner:
    """Builds and renders the cells of one sweep's trials.

    Attributes:
        spec: The experiment.
        registry: Loaded plugins.
        model: The swept model.
        category: The swept category, or None (a pure YACS sweep).
        sweep: The checked sweep config.
        sweep_id: Id of the sweep (part of every trial's identity).
        now: Timestamp of the run names (the store's creation time).
        from_file: Whether the parameters came from a sweep file (routing order).
    """

    spec: ExperimentSpec
    registry: Registry
    model: str
    category: str | None
    sweep: SweepSpec
    sweep_id: str
    now: datetime
    from_file: bool
    routes: dict[str, str | None] = field(init=False)

    def __post_init__(self) -> None:
        fields = set(self.registry.category(self.category).sweep_parameters()) if self.category else set()
        self.routes = {name: self._route(name, spec, fields) for name, spec in self.sweep.parameters.items()}

    def _route(self, name: str, spec: Mapping[str, Any], fields: set[str]) -> str | None:
        """The YACS key (or section, for a nested block) a parameter sets; None = a category field."""
        mapped = resolve_key(name, self.sweep.parameter_map)
        explicit = name in self.sweep.parameter_map or is_yacs_key(name)
        if self.category and not self.from_file and not explicit:
            return None
        if mapped is not None:
            return mapped
        if "parameters" in spec and name == name.upper():
            return name  # a nested YACS section: SOLVER: {parameters: {BASE_LR: ...}}
        if self.category and name in fields:
            return None
        known = f"fields of category {self.category}: {', '.join(sorted(fields))}; " if self.category else ""
        raise self._error(name, f"parameter {name!r} sets nothing: it is no YACS key and no category field"
                                f" ({known}add it to parameter_map:, e.g. {name}: SOLVER.SOMETHING)")

    def _error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.sweep.source, 0, f"parameters.{name}", reason)

    def split(self, point: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
        """A point -> (category option fields, YACS overrides in parameter order)."""
        fields: dict[str, Any] = {}
        yacs: list[tuple[str, Any]] = []
        for name, value in point.items():
            key = self.routes.get(name)
            if key is None:
                fields[name] = value
                continue
            for leaf, leaf_value in _flatten_value(key, value, self.sweep.parameters[name]):
                try:
                    yacs.append((leaf, check_value(leaf, leaf_value)))
                except ValueError as error:
                    raise self._error(name, f"{leaf}: {error}") from None
        return fields, yacs

    def trial_cell(self, point: Mapping[str, Any], trial: int) -> Cell:
        """The cell of one trial, planned once with its final identity, its config written."""
        from hyperparameter_system.hyperparameter_configs import render_cells

        cell = self.plan(point, trial)
        render_cells([cell], self.spec)
        return cell

    def plan(self, point: Mapping[str, Any], trial: int) -> Cell:
        """The planned cell of one trial (nothing written).

        Raises:
            ConfigError: the point is not a valid option of the category, or a
                YACS value does not fit its key; located at the sweep's source.
        """
        from hyperparameter_system.hyperparameter_configs import plan_one
        from hyperparameter_system.matrix.context import MatrixContext

        fields, yacs = self.split(point)
        inside = [(k, v) for k, v in yacs if in_schema(k)]
        outside = [(k, v) for k, v in yacs if not in_schema(k)]
        self._check_outside(outside)
        spec = dataclasses.replace(self.spec, overrides=_merge(self.spec.overrides, inside))
        if self._entry().schema and outside:  # the script's own keys: checked and rendered like its overrides
            spec, outside = _with_model_overrides(spec, self.model, outside), []
        category, option = self._option(fields)
        ctx = MatrixContext(spec, self.registry)
        try:
            cell = plan_one(ctx, self.model, category, option, now=self.now,
                            identity=lambda draft: self._identity(ctx, draft, point, trial, outside))
        except ConfigError as error:
            raise ConfigError(self.sweep.source, 0, "parameters",
                              f"point {point} is not a valid {category} option: {error.reason}") from error
        self._check_applied(cell, inside, ctx)
        return cell

    def _identity(self, ctx: MatrixContext, draft: Cell, point: Mapping[str, Any], trial: int,
                  outside: list[tuple[str, Any]]) -> Cell:
        """The trial's own id, run name, category, group and tags, given before its config is sealed.

        Each trial is its own cell (``sha256(config id, sweep id, trial number)``)
        named ``<matrix run name>_<sweep id>-t<NNN>``; a point of YACS keys alone
        is named after its values and shown under the ``sweep`` category.
        """
        base = draft.run_name
        option, label = draft.option, draft.option_label
        if draft.category == BASELINE:
            base = ctx.run_name(ctx.model_plan(self.model), SWEEP_CATEGORY, SWEEP_CATEGORY, _label(point), self.now)
            option, label = dict(point), _label(point)
        suffix = f"_{self.sweep_id}-t{trial:03d}"  # kept whole: a long label is cut before it, not it
        category = self.category or SWEEP_CATEGORY
        return dataclasses.replace(
            draft, cell_id=trial_cell_id(draft.cell_id, self.sweep_id, trial), category=category, group=category,
            run_name=safe_name(safe_name(base, MAX_NAME_LENGTH - len(suffix)) + suffix),
            option=option, option_label=label, sweep_id=self.sweep_id, trial=trial,
            tags=tuple(dict.fromkeys((*draft.tags[:1], category, *draft.tags[2:], f"sweep-{self.sweep_id}"))),
            overrides=tuple(draft.overrides) + tuple(outside))

    def _option(self, fields: dict[str, Any]) -> tuple[str, Any]:
        if not self.category:
            return BASELINE, None
        if not fields:
            return BASELINE, None
        category = self.registry.category(self.category)
        try:
            return self.category, category.option_from_sweep(fields)
        except (ValueError, TypeError, KeyError) as error:
            raise ConfigError(self.sweep.source, 0, "parameters",
                              f"point {fields} is not a valid {self.category} option: {error}") from None

    def _entry(self) -> Any:
        return next(m for m in self.spec.models if m.name == self.model)

    def _check_outside(self, outside: list[tuple[str, Any]]) -> None:
        if outside and self._entry().command is None:
            key = outside[0][0]
            raise ConfigError(self.sweep.source, 0, "parameters",
                              f"unknown YACS key {key!r}{suggest_key(key)} (keys outside hpsys's schema"
                              f" reach only a model with its own command:)")

    def _check_applied(self, cell: Cell, inside: list[tuple[str, Any]], ctx: MatrixContext) -> None:
        """A swept YACS value the category option then overwrote would be a silent no-op.

        For a model with its own schema, the cell's overrides are in the
        script's keys: each swept value is compared through the model's key_map.
        """
        final = dict(cell.overrides)
        script = ctx.model_plan(self.model).script
        for key, value in inside:
            pairs = [(key, value)] if script is None else script.map_key(key, value)
            if any(final.get(k) != v for k, v in pairs):
                name = next((n for n, k in self.routes.items() if k and key.startswith(k)), key)
                raise self._error(name, f"{key} is set by category {self.category}'s option after the sweep"
                                        f" value {value!r}; sweep the category's own field instead")


def _flatten_value(key: str, value: Any, spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    if "parameters" in spec and isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for sub, sub_value in value.items():
            out += _flatten_value(f"{key}.{sub}", sub_value, spec["parameters"].get(sub, {}))
        return out
    return [(key, value)]


def _with_model_overrides(spec: ExperimentSpec, model: str, pairs: list[tuple[str, Any]]) -> ExperimentSpec:
    """The experiment with ``pairs`` appended to one model's own overrides (the script's keys)."""
    models = tuple(dataclasses.replace(m, overrides=_merge(m.overrides, pairs)) if m.name == model else m
                   for m in spec.models)
    return dataclasses.replace(spec, models=models)


def _merge(base: tuple[tuple[str, Any], ...], extra: list[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    keys = {k for k, _ in extra}
    return tuple((k, v) for k, v in base if k not in keys) + tuple(extra)


def _label(point: Mapping[str, Any]) -> str:
    parts = []
    for name, value in point.items():
        if isinstance(value, Mapping):
            parts.append(_label(value))
        else:
            parts.append(f"{name}{format_number(value)}")
    return safe_name("_".join(parts) or "point", 80)
