"""The W&B parameter forms of a sweep: check them, and check what was sampled from them.

A sweep's ``parameters`` block is the one part of a sweep file a user tunes by
hand, and the W&B engine reports a broken one as a JSON-schema dump without a
line. Every form W&B accepts is checked here first, naming the parameter and
the rule: ``value``, ``values`` (a bare list is shorthand for it), categorical
``values`` + ``probabilities``, ``uniform``, ``int_uniform``,
``log_uniform_values``, ``inv_log_uniform_values``, the ``q_`` variants,
``normal``, ``log_normal``, ``beta`` and nested ``parameters``.

:func:`contains` answers the converse question (does a sampled value lie in
its parameter's support?), so the controller can refuse a point the engine
should never have produced and tests can check every draw.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

__all__ = ["DISTRIBUTIONS", "GRID_FORMS", "ParameterError", "contains", "flatten", "form_of",
           "normalize_parameters", "plain", "probes", "representative"]


class ParameterError(ValueError):
    """A parameter breaks a rule; ``path`` is the key path below ``parameters``."""

    def __init__(self, path: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


# distribution -> (required numeric fields, optional fields with their defaults)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "uniform": (("min", "max"), {}),
    "int_uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
# The old forms whose min/max are exponents of e: W&B's engine refuses them.
_EXPONENT_FORMS = {"log_uniform": "log_uniform_values", "inv_log_uniform": "inv_log_uniform_values",
                   "q_log_uniform": "q_log_uniform_values"}
# Forms a grid search can enumerate.
GRID_FORMS = frozenset({"constant", "categorical", "int_uniform", "q_uniform"})


def plain(value: Any) -> Any:
    """numpy scalars / arrays (what the engine samples) -> plain Python values."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def normalize_parameters(block: Any, path: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Check a ``parameters`` block and return it in W&B's explicit form.

    A bare list becomes ``{values: [...]}`` and a bare scalar ``{value: x}``;
    ``{min, max}`` without a distribution becomes ``int_uniform`` when both
    are integers, else ``uniform`` (W&B's own inference).

    Raises:
        ParameterError: naming the parameter's key path and the rule broken.
    """
    if not isinstance(block, Mapping) or not block:
        raise ParameterError(path, "expected a mapping of parameter name -> definition, with at least one")
    return {str(name): _normalize_one(spec, path + (str(name),)) for name, spec in block.items()}


def _normalize_one(spec: Any, path: tuple[str, ...]) -> dict[str, Any]:
    name = path[-1]
    if not name or not (name[0].isalpha() or name[0] == "_") or not all(
            ch.isalnum() or ch in "_.-" for ch in name):
        raise ParameterError(path, f"parameter name {name!r} must match [A-Za-z_][A-Za-z0-9_.-]*")
    if isinstance(spec, (list, tuple)):
        spec = {"values": list(spec)}
    elif not isinstance(spec, Mapping):
        spec = {"value": spec}
    spec = dict(spec)
    if "parameters" in spec:
        _only(spec, ("parameters",), path)
        return {"parameters": normalize_parameters(spec["parameters"], path + ("parameters",))}
    if "value" in spec:
        _only(spec, ("value", "distribution"), path)
        _distribution_is(spec, "constant", path)
        return {"value": plain(spec["value"])}
    if "values" in spec:
        return _categorical(spec, path)
    return _distribution(spec, path)


def _categorical(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    values = spec["values"]
    if not isinstance(values, list) or not values:
        raise ParameterError(path + ("values",), "values must be a non-empty list")
    if "probabilities" not in spec:
        _only(spec, ("values", "distribution"), path)
        _distribution_is(spec, "categorical", path)
        return {"values": plain(values)}
    _only(spec, ("values", "probabilities", "distribution"), path)
    _distribution_is(spec, "categorical_w_probabilities", path)
    probs = spec["probabilities"]
    where = path + ("probabilities",)
    if not isinstance(probs, list) or len(probs) != len(values):
        raise ParameterError(where, f"expected {len(values)} probabilities (one per value), got {probs!r}")
    if any(not _is_number(p) or p < 0 for p in probs):
        raise ParameterError(where, f"probabilities must be numbers >= 0, got {probs!r}")
    if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        raise ParameterError(where, f"probabilities must sum to 1, got {sum(probs):g}")
    return {"values": plain(values), "probabilities": [float(p) for p in probs]}


def _distribution(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    dist = spec.get("distribution")
    if dist is None:
        if "min" not in spec or "max" not in spec:
            raise ParameterError(path, "expected one of: value, values (or a bare list), min+max,"
                                       " distribution, parameters (nested)")
        dist = "int_uniform" if all(_is_int(spec[k]) for k in ("min", "max")) else "uniform"
    if dist in _EXPONENT_FORMS:
        raise ParameterError(path + ("distribution",),
                             f"{dist} takes base-e exponents as min/max and W&B no longer accepts it;"
                             f" use {_EXPONENT_FORMS[dist]} with the limit values")
    if dist not in DISTRIBUTIONS:
        known = ", ".join(["constant", "categorical", "categorical_w_probabilities", *DISTRIBUTIONS])
        raise ParameterError(path + ("distribution",), f"unknown distribution {dist!r}; known: {known}")
    required, optional = DISTRIBUTIONS[dist]
    _only(spec, ("distribution", *required, *optional), path)
    out: dict[str, Any] = {"distribution": dist}
    for field in required:
        if field not in spec:
            raise ParameterError(path, f"distribution {dist} needs {field!r}")
        out[field] = spec[field]
    for field, default in optional.items():
        out[field] = spec.get(field, default)
    for field, value in out.items():
        if field != "distribution" and not _is_number(value):
            raise ParameterError(path + (field,), f"{field} must be a number, got {value!r}")
    _check_ranges(dist, out, path)
    return out


def _check_ranges(dist: str, spec: dict[str, Any], path: tuple[str, ...]) -> None:
    if "min" in spec and not spec["min"] < spec["max"]:
        raise ParameterError(path, f"min must be < max, got min={spec['min']} max={spec['max']}")
    if dist == "int_uniform" and not (_is_int(spec["min"]) and _is_int(spec["max"])):
        raise ParameterError(path, f"int_uniform needs integer min and max, got {spec['min']!r}, {spec['max']!r}")
    if dist in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values") and spec["min"] <= 0:
        raise ParameterError(path + ("min",), f"{dist} needs min > 0, got min={spec['min']}")
    if "q" in spec and spec["q"] <= 0:
        raise ParameterError(path + ("q",), f"q must be > 0, got q={spec['q']}")
    if "sigma" in spec and spec["sigma"] < 0:
        raise ParameterError(path + ("sigma",), f"sigma must be >= 0, got sigma={spec['sigma']}")
    for field in ("a", "b"):
        if field in spec and spec[field] < 0:
            raise ParameterError(path + (field,), f"{field} must be >= 0, got {field}={spec[field]}")


def _only(spec: Mapping[str, Any], allowed: tuple[str, ...], path: tuple[str, ...]) -> None:
    extra = sorted(set(spec) - set(allowed))
    if extra:
        raise ParameterError(path + (str(extra[0]),),
                             f"unexpected field {extra[0]!r} here; allowed: {', '.join(allowed)}")


def _distribution_is(spec: Mapping[str, Any], expected: str, path: tuple[str, ...]) -> None:
    dist = spec.get("distribution", expected)
    if dist != expected:
        raise ParameterError(path + ("distribution",), f"distribution must be {expected!r} here, got {dist!r}")


def form_of(spec: Mapping[str, Any]) -> str:
    """``constant`` | ``categorical`` | ``categorical_w_probabilities`` | ``nested`` | a distribution."""
    if "parameters" in spec:
        return "nested"
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    return str(spec["distribution"])


def flatten(parameters: Mapping[str, Mapping[str, Any]], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Nested parameters as dotted leaves: ``{"opt.lr": {...}}`` (for checks and listings)."""
    flat: dict[str, dict[str, Any]] = {}
    for name, spec in parameters.items():
        if "parameters" in spec:
            flat.update(flatten(spec["parameters"], f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = dict(spec)
    return flat


def contains(spec: Mapping[str, Any], value: Any) -> bool:
    """Whether ``value`` lies in the support of the (normalized) parameter ``spec``."""
    form = form_of(spec)
    if form == "nested":
        return isinstance(value, Mapping) and set(value) == set(spec["parameters"]) and all(
            contains(spec["parameters"][k], v) for k, v in value.items())
    if form == "constant":
        return value == spec["value"]
    if form.startswith("categorical"):
        return any(value == candidate for candidate in spec["values"])
    if not _is_number(value) or not math.isfinite(value):
        return False
    return _CHECKS[form](spec, value)


def _multiple_of(value: float, q: float) -> bool:
    ratio = value / q
    return math.isclose(ratio, round(ratio), abs_tol=1e-6)


def _in_q_range(spec: Mapping[str, Any], value: float) -> bool:
    """Quantized draws are round(x / q) * q with x in [min, max]."""
    half = spec["q"] / 2
    return _multiple_of(value, spec["q"]) and spec["min"] - half <= value <= spec["max"] + half


_CHECKS: dict[str, Callable[[Mapping[str, Any], float], bool]] = {
    "uniform": lambda s, v: s["min"] <= v <= s["max"],
    "int_uniform": lambda s, v: _is_int(v) and s["min"] <= v <= s["max"],
    "q_uniform": _in_q_range,
    "log_uniform_values": lambda s, v: s["min"] * (1 - 1e-9) <= v <= s["max"] * (1 + 1e-9),
    "inv_log_uniform_values": lambda s, v: s["min"] * (1 - 1e-9) <= v <= s["max"] * (1 + 1e-9),
    "q_log_uniform_values": _in_q_range,
    "normal": lambda s, v: True,
    "q_normal": lambda s, v: _multiple_of(v, s["q"]),
    "log_normal": lambda s, v: v > 0,
    "q_log_normal": lambda s, v: v >= 0 and _multiple_of(v, s["q"]),
    "beta": lambda s, v: 0 <= v <= 1,
    "q_beta": lambda s, v: -s["q"] / 2 <= v <= 1 + s["q"] / 2 and _multiple_of(v, s["q"]),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def representative(spec: Mapping[str, Any]) -> Any:
    """One value of a (normalized) parameter: its constant, first value or lower bound."""
    form = form_of(spec)
    if form == "nested":
        return {name: representative(sub) for name, sub in spec["parameters"].items()}
    if form == "constant":
        return spec["value"]
    if form.startswith("categorical"):
        return spec["values"][0]
    if "min" in spec:
        return spec["min"]
    if form.endswith("log_normal"):
        return math.exp(spec["mu"])
    return spec["mu"] if form.endswith("normal") else spec["a"] / (spec["a"] + spec["b"])  # beta: its mean


def probes(spec: Mapping[str, Any]) -> list[tuple[Any, tuple[Any, ...]]]:
    """Every value worth checking before a sweep starts, each with its key path in ``spec``.

    Every listed value (``values``, ``value``); both bounds of a distribution;
    for a nested block, each inner probe with the other inner parameters at
    their :func:`representative` value. An unbounded distribution (normal,
    beta) is probed at its centre only.
    """
    form = form_of(spec)
    if form == "nested":
        out = []
        base = representative(spec)
        for name, sub in spec["parameters"].items():
            for value, path in probes(sub):
                out.append(({**base, name: value}, ("parameters", name, *path)))
        return out
    if form == "constant":
        return [(spec["value"], ("value",))]
    if form.startswith("categorical"):
        return [(value, ("values", i)) for i, value in enumerate(spec["values"])]
    if "min" in spec:
        return [(spec["min"], ("min",)), (spec["max"], ("max",))]
    return [(representative(spec), ("distribution",))]
