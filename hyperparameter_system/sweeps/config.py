"""One sweep's configuration, checked and located: :class:`SweepSpec`.

Three places can describe a sweep, in this order of precedence:

1. a W&B-format file given with ``--sweep-config`` (``sweeps/sweep_lr.yaml``);
2. the category's ``sweep:`` block in ``experiment_config.yaml``;
3. the category plugin's own search space (``sweep_parameters()``).

A ``sweep:`` block without ``parameters`` borrows the plugin's. The metric
defaults to the experiment's (name and goal). Every problem is reported as
``path:line: key: reason`` before anything is written or started.

File keys: ``method`` (grid | random | bayes), ``metric`` ({name, goal}),
``parameters``, ``count`` (trials per invocation), ``results_dir_base``
(where trial outputs go), ``early_terminate`` (hyperband: ``min_iter``, or
``max_iter`` with ``s``; ``eta`` default 3; ``strict`` default true),
``parameter_map`` / ``yacs_keys`` (sweep name -> YACS key), and W&B's
descriptive ``name``, ``description``, ``program``, ``command``, ``project``,
``entity``, ``run_cap`` (accepted, not used by the local engine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping

from hyperparameter_system.config.yaml_source import LineIndex, dotted, load_yaml_with_lines
from hyperparameter_system.config.goal import GOALS, Goal
from hyperparameter_system.errors import ConfigError, did_you_mean
from hyperparameter_system.sweeps.yacs_map import is_yacs_key
from hyperparameter_system.sweeps.space import GRID_FORMS, ParameterError, flatten, form_of, normalize_parameters

__all__ = ["METHODS", "SweepSpec", "check_method", "hyperband_bands", "load_sweep_file", "parse_sweep"]

METHODS = ("grid", "random", "bayes")
_KEYS = ("method", "metric", "parameters", "count", "results_dir_base", "early_terminate", "parameter_map",
         "yacs_keys", "name", "description", "program", "command", "project", "entity", "run_cap")
_HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")

Locate = Callable[[tuple[Hashable, ...], str], ConfigError]


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep configuration (engine-ready W&B syntax plus hpsys's own keys).

    Attributes:
        method: ``grid``, ``random`` or ``bayes`` ("" = choose from the parameters).
        metric: Metric name optimised, e.g. ``val/acc``.
        goal: ``maximize`` | ``minimize``.
        parameters: Normalized W&B parameters (explicit forms only).
        early_terminate: The filled hyperband block, or None.
        count: Trials per invocation from the file, or None.
        results_dir_base: Absolute folder for trial outputs ("" = the experiment's).
        parameter_map: The file's own sweep name -> YACS key entries.
        source: Where it came from, for messages.
    """

    method: str
    metric: str
    goal: str
    parameters: dict[str, Any]
    early_terminate: dict[str, Any] | None = None
    count: int | None = None
    results_dir_base: str = ""
    parameter_map: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def engine_config(self) -> dict[str, Any]:
        """The config the W&B engine (local ``sweeps`` package or the server) receives."""
        config: dict[str, Any] = {"method": self.method, "metric": {"name": self.metric, "goal": self.goal},
                                  "parameters": self.parameters}
        if self.early_terminate:
            config["early_terminate"] = dict(self.early_terminate)
        return config

    def grid_size(self) -> int | None:
        """Points in the grid, or None when a parameter cannot be enumerated."""
        size = 1
        for spec in flatten(self.parameters).values():
            form = form_of(spec)
            if form not in GRID_FORMS:
                return None
            if form == "categorical":
                size *= len(spec["values"])
            elif form == "int_uniform":
                size *= spec["max"] - spec["min"] + 1
            elif form == "q_uniform":
                size *= len(_q_grid(spec))
        return size


def _q_grid(spec: Mapping[str, Any]) -> list[float]:
    """The engine's q_uniform grid: ``numpy.arange(min, max, q)``."""
    import numpy as np

    return np.arange(spec["min"], spec["max"], spec["q"]).tolist()


def load_sweep_file(path: str, *, metric: str, goal: str) -> SweepSpec:
    """Read and check a W&B-format sweep file (``--sweep-config``).

    Raises:
        ConfigError: ``path:line: key: reason`` for the first problem.
    """
    data, index = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise index.error((), "a sweep file must be a mapping (method, metric, parameters, ...)")
    base = Path(path).resolve().parent
    return parse_sweep(data, _locator(index, ()), metric=metric, goal=goal, base_dir=base,
                       source=str(path), require_parameters=True)


def _locator(index: LineIndex, prefix: tuple[Hashable, ...]) -> Locate:
    def locate(keypath: tuple[Hashable, ...], reason: str) -> ConfigError:
        return index.error(prefix + tuple(keypath), reason)
    return locate


def block_locator(lines: LineIndex | None, path: str, prefix: tuple[Hashable, ...]) -> Locate:
    """Errors inside a block of a bigger file (the experiment's ``categories.<c>.sweep``)."""
    if lines is not None:
        return _locator(lines, prefix)

    def locate(keypath: tuple[Hashable, ...], reason: str) -> ConfigError:
        return ConfigError(path, 0, dotted(prefix + tuple(keypath)), reason)
    return locate


def parse_sweep(data: Mapping[str, Any], locate: Locate, *, metric: str, goal: str, base_dir: Path,
                source: str, require_parameters: bool,
                fallback_parameters: Mapping[str, Any] | None = None) -> SweepSpec:
    """Check one sweep mapping; ``fallback_parameters`` fill a block that has none."""
    unknown = [key for key in data if key not in _KEYS]
    if unknown:
        hint = did_you_mean(str(unknown[0]), _KEYS) or f"; known: {', '.join(_KEYS)}"
        raise locate((unknown[0],), f"unknown key{hint}")
    method = data.get("method", "")
    if method and method not in METHODS:
        raise locate(("method",), f"method must be one of {', '.join(METHODS)}, got {method!r}")
    raw_params = data.get("parameters", fallback_parameters)
    if raw_params is None:
        where = "a sweep file needs" if require_parameters else "this sweep has no"
        raise locate(("parameters",) if require_parameters else (), f"{where} parameters")
    try:
        parameters = normalize_parameters(raw_params)
    except ParameterError as error:
        keypath = ("parameters", *error.path) if "parameters" in data else ()
        reason = error.reason if keypath else f"{'.'.join(error.path) or 'parameters'}: {error.reason}"
        raise locate(keypath, reason) from None
    name, metric_goal = _metric(data.get("metric"), locate, metric, goal)
    spec = SweepSpec(
        method=method, metric=name, goal=metric_goal, parameters=parameters,
        early_terminate=_early_terminate(data.get("early_terminate"), locate),
        count=_count(data.get("count"), locate),
        results_dir_base=_results_dir(data.get("results_dir_base"), locate, base_dir),
        parameter_map=_parameter_map(data, locate), source=source)
    check_method(spec, locate)
    return spec


def check_method(spec: SweepSpec, locate: Locate) -> None:
    """Forms the chosen method's engine cannot handle fail here, not inside the engine."""
    forms = {name: form_of(s) for name, s in flatten(spec.parameters).items()}
    if spec.method == "bayes" and "categorical_w_probabilities" in forms.values():
        name = next(n for n, f in forms.items() if f == "categorical_w_probabilities")
        raise locate(("method",), f"bayes cannot use probabilities (parameter {name!r}): the engine models"
                                  " values only; drop probabilities or use random")
    if spec.method == "grid" and spec.grid_size() is None:
        bad = [n for n, f in forms.items() if f not in GRID_FORMS][0]
        raise locate(("method",), f"grid search needs enumerable parameters (value, values, int_uniform,"
                                  f" q_uniform); {bad!r} is {forms[bad]}")


def _metric(value: Any, locate: Locate, metric: str, goal: str) -> tuple[str, str]:
    if value is None:
        return metric, goal
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str) or not value["name"]:
        raise locate(("metric",), "metric must be a mapping {name: <metric>, goal: maximize|minimize}")
    extra = sorted(set(value) - {"name", "goal", "target", "impute"})
    if extra:
        raise locate(("metric", extra[0]), "unknown key; known: name, goal, target, impute")
    # Another metric than the experiment's takes W&B's default goal, minimize.
    wanted = value.get("goal", goal if value["name"] == metric else Goal.MINIMIZE.value)
    if wanted not in GOALS:
        raise locate(("metric", "goal"), f"goal must be maximize or minimize, got {wanted!r}")
    return value["name"], wanted


def _count(value: Any, locate: Locate) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise locate(("count",), f"count must be an integer >= 1, got {value!r}")
    return value


def _results_dir(value: Any, locate: Locate, base_dir: Path) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise locate(("results_dir_base",), f"results_dir_base must be a folder path, got {value!r}")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _parameter_map(data: Mapping[str, Any], locate: Locate) -> dict[str, str]:
    merged: dict[str, str] = {}
    for key in ("yacs_keys", "parameter_map"):
        block = data.get(key)
        if block is None:
            continue
        if not isinstance(block, Mapping):
            raise locate((key,), "expected a mapping of sweep parameter name -> YACS key")
        for name, target in block.items():
            if not isinstance(target, str) or not is_yacs_key(target):
                raise locate((key, name), f"expected a dotted YACS key such as SOLVER.BASE_LR, got {target!r}")
            merged[str(name)] = target
    return merged


def _early_terminate(value: Any, locate: Locate) -> dict[str, Any] | None:
    if value is None:
        return None
    key = ("early_terminate",)
    if not isinstance(value, Mapping):
        raise locate(key, "early_terminate must be a mapping {type: hyperband, ...}")
    extra = [k for k in value if k not in _HYPERBAND_KEYS]
    if extra:
        raise locate(key + (extra[0],), f"unknown key; known: {', '.join(_HYPERBAND_KEYS)}")
    if value.get("type") != "hyperband":
        raise locate(key + ("type",), f"type must be hyperband (the only one W&B has), got {value.get('type')!r}")
    filled: dict[str, Any] = {"type": "hyperband", "eta": value.get("eta", 3), "strict": value.get("strict", True)}
    for name in ("min_iter", "max_iter", "s"):
        if name in value:
            number = value[name]
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise locate(key + (name,), f"{name} must be an integer >= 1, got {number!r}")
            filled[name] = number
    eta = filled["eta"]
    if not isinstance(eta, (int, float)) or isinstance(eta, bool) or eta <= 1:
        raise locate(key + ("eta",), f"eta must be a number > 1, got {eta!r}")
    if not isinstance(filled["strict"], bool):
        raise locate(key + ("strict",), f"strict must be true or false, got {filled['strict']!r}")
    if "min_iter" not in filled and not ("max_iter" in filled and "s" in filled):
        raise locate(key, "hyperband needs min_iter, or max_iter together with s")
    if not hyperband_bands(filled):
        raise locate(key, "these settings give no band (max_iter / eta^i < 1): raise max_iter or lower s/eta")
    return filled


def hyperband_bands(early_terminate: Mapping[str, Any], limit: int = 1_000_000) -> list[int]:
    """The epochs at which hyperband judges a run, as the W&B engine computes them.

    ``max_iter`` + ``s``: ``int(max_iter / eta^i)`` for i = 1..s while >= 1;
    ``min_iter``: ``min_iter * eta^i`` (cut at ``limit`` here for display).
    """
    eta = early_terminate.get("eta", 3)
    if "max_iter" in early_terminate:
        bands, band = [], float(early_terminate["max_iter"])
        for _ in range(int(early_terminate["s"])):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        return sorted(bands)
    bands, band = [], float(early_terminate["min_iter"])
    while band <= limit and len(bands) < 100:
        bands.append(int(band))
        band *= eta
    return bands
