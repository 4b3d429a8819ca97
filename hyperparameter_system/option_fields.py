"""Field checks shared by the category plugins: one message style for every option.

A category option is a small dict a user typed (``{name: SGD, lr: 0.05}``).
Every rule failure reads the same way, naming the field, the rule and the
value (``"lr must be > 0, but got lr=-0.1"``); the matrix generator adds
``path:line``. Missing fields take the YACS schema's default, so a canonical
option is complete and two spellings of one setting compare equal.
"""

from __future__ import annotations

import math
from typing import Any, Collection, Mapping

from hyperparameter_system.config.yacs_keys import default_value
from hyperparameter_system.errors import did_you_mean

__all__ = ["OptionFields", "choose_name"]


def choose_name(value: Any, choices: Collection[str], what: str) -> str:
    """Check a name (optimizer, scheduler, loss) against the supported ones."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {what} {value!r}{did_you_mean(str(value), choices)}; "
                         f"supported: {', '.join(choices)}")
    return value


class OptionFields:
    """Typed access to one option dict; every getter validates and records the field.

    Args:
        option: The raw option (must be a mapping).
        allowed: Field names this option may have (others are an error in :meth:`done`).
        context: Shown in messages for unknown fields, e.g. ``"SGD"``.
    """

    def __init__(self, option: Any, allowed: Collection[str], context: str) -> None:
        if not isinstance(option, Mapping):
            raise ValueError(f"expected a mapping of fields ({', '.join(sorted(allowed))}), got {option!r}")
        self.raw = dict(option)
        self.allowed = tuple(allowed)
        self.context = context
        for field in self.raw:
            if field not in self.allowed:
                raise ValueError(f"field {field!r} is not valid for {context}{did_you_mean(str(field), self.allowed)}"
                                 f" (valid: {', '.join(sorted(self.allowed))})")

    def _get(self, field: str, default_key: str | None, default: Any) -> Any:
        if field in self.raw:
            return self.raw[field]
        return default_value(default_key) if default_key else default

    def number(self, field: str, default_key: str | None = None, default: Any = None, *,
               gt: float | None = None, ge: float | None = None, lt: float | None = None,
               le: float | None = None) -> float:
        """A finite float within the given bounds (ints are accepted and normalised)."""
        value = self._get(field, default_key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{field} must be a finite number, but got {field}={value!r}")
        value = float(value)
        for bound, ok, sign in ((gt, lambda b: value > b, ">"), (ge, lambda b: value >= b, ">="),
                                (lt, lambda b: value < b, "<"), (le, lambda b: value <= b, "<=")):
            if bound is not None and not ok(bound):
                raise ValueError(f"{field} must be {sign} {bound:g}, but got {field}={value:g}")
        return value

    def integer(self, field: str, default_key: str | None = None, default: Any = None, *,
                ge: int | None = None) -> int:
        """An int (a whole float like ``2.0`` is accepted), at least ``ge``."""
        value = self._get(field, default_key, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{field} must be an integer, but got {field}={value!r}")
        if ge is not None and value < ge:
            raise ValueError(f"{field} must be >= {ge}, but got {field}={value}")
        return value

    def boolean(self, field: str, default_key: str | None = None, default: Any = None) -> bool:
        value = self._get(field, default_key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{field} must be true or false, but got {field}={value!r}")
        return value

    def number_list(self, field: str, default_key: str | None = None, default: Any = None) -> list[float]:
        value = self._get(field, default_key, default)
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{field} must be a non-empty list of numbers, but got {field}={value!r}")
        sub = OptionFields({str(i): v for i, v in enumerate(value)}, [str(i) for i in range(len(value))],
                           self.context)
        try:
            return [sub.number(str(i)) for i in range(len(value))]
        except ValueError:
            raise ValueError(f"{field} must be a list of finite numbers, but got {field}={value!r}") from None

