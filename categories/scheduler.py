"""The ``scheduler`` category: the learning-rate schedule and an optional warmup.

Options name one of the schedulers the trainer implements, each with its own
fields; every one may add ``warmup_iters`` / ``warmup_factor`` (a linear ramp
from ``warmup_factor x lr`` over the first iterations). A bare string such as
``CosineAnnealingLR`` means that scheduler with its defaults.
"""

from __future__ import annotations

from typing import Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.config.yacs_keys import default_value, set_key
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.matrix.naming import format_number
from hyperparameter_system.option_fields import OptionFields, choose_name

_WARMUP = ("warmup_iters", "warmup_factor")
_FIELDS = {
    "none": (),
    "CosineAnnealingLR": ("t_max", "eta_min"),
    "OneCycleLR": ("max_lr", "pct_start"),
    "StepLR": ("step_size", "gamma"),
    "MultiStepLR": ("milestones", "gamma"),
}
# Option field -> YACS key (and short form used in labels).
_KEYS = {"t_max": "SOLVER.T_MAX", "eta_min": "SOLVER.ETA_MIN", "max_lr": "SOLVER.MAX_LR",
         "pct_start": "SOLVER.PCT_START", "step_size": "SOLVER.STEP_SIZE", "gamma": "SOLVER.GAMMA",
         "milestones": "SOLVER.MILESTONES", "warmup_iters": "SOLVER.WARMUP_ITERS",
         "warmup_factor": "SOLVER.WARMUP_FACTOR"}
_SHORT = {"t_max": "tmax", "eta_min": "eta", "max_lr": "maxlr", "pct_start": "pct", "step_size": "step",
          "gamma": "g", "milestones": "ms", "warmup_iters": "wu", "warmup_factor": "wf"}


class SchedulerCategory(BaseCategory):
    """Compares learning-rate schedules; sets SOLVER.SCHEDULER and its fields."""

    name = "scheduler"
    prefix = "sched"
    description = "learning-rate schedule, with optional warmup"

    def validate(self, option: Any) -> dict[str, Any]:
        if isinstance(option, str):
            option = {"name": option}
        if not isinstance(option, Mapping) or "name" not in option:
            raise ValueError(f"expected {{name: {'|'.join(_FIELDS)}, ...}}, got {option!r}")
        name = choose_name(option["name"], tuple(_FIELDS), "scheduler")
        fields = OptionFields(option, ("name",) + _FIELDS[name] + _WARMUP, name)
        result: dict[str, Any] = {"name": name}
        readers = {
            "t_max": lambda: fields.integer("t_max", "SOLVER.T_MAX", ge=0),
            "eta_min": lambda: fields.number("eta_min", "SOLVER.ETA_MIN", ge=0),
            "max_lr": lambda: fields.number("max_lr", "SOLVER.MAX_LR", ge=0),
            "pct_start": lambda: fields.number("pct_start", "SOLVER.PCT_START", gt=0, lt=1),
            "step_size": lambda: fields.integer("step_size", "SOLVER.STEP_SIZE", ge=1),
            "gamma": lambda: fields.number("gamma", "SOLVER.GAMMA", gt=0, le=1),
            "milestones": lambda: _milestones(fields),
            "warmup_iters": lambda: fields.integer("warmup_iters", "SOLVER.WARMUP_ITERS", ge=0),
            "warmup_factor": lambda: fields.number("warmup_factor", "SOLVER.WARMUP_FACTOR", gt=0, le=1),
        }
        for field in _FIELDS[name] + _WARMUP:
            result[field] = readers[field]()
        return dict(sorted(result.items()))

    def apply(self, cfg: Any, option: Any) -> None:
        cfg.SOLVER.SCHEDULER = option["name"]
        for field, value in option.items():
            if field != "name":
                set_key(cfg, _KEYS[field], list(value) if isinstance(value, list) else value)

    def label(self, option: Any) -> str:
        """The name plus every field that differs from the schema default (short and readable)."""
        parts = [option["name"]]
        for field, value in option.items():
            if field != "name" and value != default_value(_KEYS[field]):
                shown = "-".join(str(v) for v in value) if isinstance(value, list) else format_number(value)
                parts.append(f"{_SHORT[field]}{shown}")
        return "_".join(parts)

    def sweep_parameters(self) -> dict[str, Any]:
        return {
            "name": {"values": ["CosineAnnealingLR", "OneCycleLR", "StepLR"]},
            "warmup_iters": {"values": [0, 20, 100]},
            "gamma": {"distribution": "uniform", "min": 0.1, "max": 0.9},
        }

    def option_from_sweep(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Keep only the fields the sampled scheduler has."""
        params = super().option_from_sweep(params)
        allowed = ("name",) + _FIELDS.get(params.get("name"), ()) + _WARMUP
        return {key: value for key, value in params.items() if key in allowed}


def _milestones(fields: OptionFields) -> list[int]:
    raw = fields.raw.get("milestones", default_value("SOLVER.MILESTONES"))
    if not isinstance(raw, (list, tuple)) or not raw or any(
            isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in raw):
        raise ValueError(f"milestones must be a non-empty list of epochs >= 1, but got milestones={raw!r}")
    if list(raw) != sorted(set(raw)):
        raise ValueError(f"milestones must be strictly increasing, but got milestones={list(raw)}")
    return list(raw)


@hookimpl
def register_categories(register: Any) -> None:
    register(SchedulerCategory())
