"""Check a ``YACS.KEY: value`` pair against the schema in ``config/defaults.py``.

Experiment overrides, YAML-only categories and sweep parameter maps all name
YACS keys by hand. A typo there must fail at plan time with a suggestion, not
be rejected by yacs inside a child process hours later, and a value must have
the type yacs will accept when the config is merged. Only yacs is imported
(no torch), so planning stays instant.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping

from yacs.config import CfgNode

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.config.yaml_source import KeyPath, LineIndex
from hyperparameter_system.errors import did_you_mean

__all__ = ["check_mapping", "check_override", "default_value", "describe", "flat_settings", "is_setting", "leaf_keys",
           "set_key", "suggest_key"]


def flat_settings(node: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"SOLVER.BASE_LR": 0.001, ...}`` from a nested YACS node (or dict), in the node's order.

    The one walk from a nested config to dotted keys: the planner compares and
    hashes its output, the trainer checks values with it and W&B logs it.
    Sections are walked, not listed; values are returned as they are.
    """
    out = {} if out is None else out
    for key, value in node.items():
        if isinstance(value, dict):  # CfgNode is a dict; an ABC check would slow planning
            flat_settings(value, f"{prefix}{key}.", out)
        else:
            out[prefix + key] = value
    return out


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """Every dotted key of the defaults, sections included (value: CfgNode)."""
    flat: dict[str, Any] = {}

    def walk(node: CfgNode, prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            flat[key] = value
            if isinstance(value, CfgNode):
                walk(value, key + ".")

    walk(get_cfg_defaults(), "")
    return flat


def leaf_keys() -> list[str]:
    """Every settable dotted key (not sections), sorted, e.g. ``SOLVER.BASE_LR``."""
    return sorted(k for k, v in _schema().items() if not isinstance(v, CfgNode))


def is_setting(key: str) -> bool:
    """Whether ``key`` is a settable key of hpsys's schema (not a section, not unknown)."""
    return isinstance(key, str) and key in _schema() and not isinstance(_schema()[key], CfgNode)


def default_value(key: str) -> Any:
    """The default of a settable key; raises ValueError like :func:`check_override`."""
    _require_leaf(key)
    return _schema()[key]


def suggest_key(key: str) -> str:
    """`` did you mean X?`` for the closest known key, or "" when none is close."""
    upper = key.upper()
    if upper in _schema() and upper != key:
        return f"; did you mean {upper}?"
    return did_you_mean(upper, leaf_keys(), quote=False)


def check_override(key: str, value: Any) -> Any:
    """Check that ``key`` exists in the defaults and ``value`` fits its type.

    Args:
        key: Dotted YACS key, e.g. ``SOLVER.MAX_EPOCHS``.
        value: The value as read from YAML.

    Returns:
        The value in the type yacs expects: an int for a float key becomes a
        float, a whole float for an int key an int, a tuple a list.

    Raises:
        ValueError: unknown key (with a did-you-mean), a section named
            instead of a setting, or a value of the wrong type, e.g.
            ``"expected int, got str 'two'"``.
    """
    _require_leaf(key)
    return _coerce(value, _schema()[key])


def check_mapping(node: Any, index: LineIndex, keypath: KeyPath = (),
                  check: Callable[[str, Any], Any] = check_override) -> dict[str, Any]:
    """YACS settings written nested (``SOLVER: {BASE_LR: 0.1}``) or dotted, checked and flattened.

    Used for experiment overrides and model profiles alike. Each problem is a
    ConfigError at its line; a key reached twice (dotted and nested) is one.
    ``check`` (key, value) -> value, raising ValueError, is hpsys's schema by
    default; a user script's schema brings its own.

    Returns:
        Dotted key -> value normalised by :func:`check_override`, in file order.
    """
    result: dict[str, Any] = {}

    def walk(keypath: KeyPath, node: Any, prefix: str) -> None:
        if not isinstance(node, dict):
            raise index.error(keypath, f"expected mapping, got {describe(node)}")
        for name, item in node.items():
            key, sub = f"{prefix}{name}", keypath + (name,)
            if isinstance(item, dict):
                walk(sub, item, key + ".")
                continue
            if key in result:
                raise index.error(sub, f"{key} is set twice")
            try:
                result[key] = check(key, item)
            except ValueError as exc:
                raise index.error(sub, str(exc)) from None

    walk(keypath, node, "")
    return result


def _require_leaf(key: str) -> None:
    if not isinstance(key, str) or key not in _schema():
        raise ValueError(f"unknown YACS key {key!r}{suggest_key(str(key))}")
    if isinstance(_schema()[key], CfgNode):
        children = ", ".join(leaf for leaf in leaf_keys() if leaf.startswith(key + "."))
        raise ValueError(f"{key} is a section, not a setting; its keys: {children}")


def set_key(cfg: CfgNode, key: str, value: Any) -> None:
    """Set a dotted key on an unfrozen config (``SOLVER.BASE_LR``)."""
    *parents, leaf = key.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    node[leaf] = value


def describe(value: Any) -> str:
    """``str 'two'`` / ``bool True`` / ``null``: how messages show a wrong value."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    kind = "list" if isinstance(value, (list, tuple)) else type(value).__name__
    return f"{kind} {value!r}"


def _coerce(value: Any, default: Any) -> Any:
    """Coerce ``value`` to the kind of ``default`` or raise ValueError."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected bool, got {describe(value)}")
    if isinstance(default, int):
        return _as_int(value)
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"expected float, got {describe(value)}")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise ValueError(f"expected str, got {describe(value)}")
    if isinstance(default, (list, tuple)):
        return _as_list(value, default)
    raise ValueError(f"cannot override a {type(default).__name__} setting")  # pragma: no cover


def _as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise ValueError(f"expected int, got {describe(value)}")


def _as_list(value: Any, default: list[Any] | tuple[Any, ...]) -> list[Any]:
    """A list whose items match the default's item type (any scalars if it is empty)."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected list, got {describe(value)}")
    if not default:
        for item in value:
            if isinstance(item, (dict, list, tuple)) or item is None:
                raise ValueError(f"expected a list of plain values, got item {describe(item)}")
        return list(value)
    try:
        return [_coerce(item, default[0]) for item in value]
    except ValueError as exc:
        raise ValueError(f"list item: {exc}") from None
