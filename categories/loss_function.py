"""The ``loss_function`` category: cross-entropy, focal loss or label smoothing.

``FocalLoss`` takes ``alpha`` (class balance, 0..1) and ``gamma`` (focusing,
>= 0); ``LabelSmoothingLoss`` takes ``smoothing`` in [0, 1). A bare string
means that loss with the schema defaults.
"""

from __future__ import annotations

from typing import Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.matrix.naming import format_number
from hyperparameter_system.option_fields import OptionFields, choose_name

_FIELDS = {"CrossEntropyLoss": (), "FocalLoss": ("alpha", "gamma"), "LabelSmoothingLoss": ("smoothing",)}
_KEYS = {"alpha": "FOCAL_ALPHA", "gamma": "FOCAL_GAMMA", "smoothing": "LABEL_SMOOTHING"}
_SHORT = {"alpha": "a", "gamma": "g", "smoothing": "s"}


class LossFunctionCategory(BaseCategory):
    """Compares training losses; sets LOSS.NAME and the loss's own fields."""

    name = "loss_function"
    prefix = "loss"
    description = "training loss"

    def validate(self, option: Any) -> dict[str, Any]:
        if isinstance(option, str):
            option = {"name": option}
        if not isinstance(option, Mapping) or "name" not in option:
            raise ValueError(f"expected {{name: {'|'.join(_FIELDS)}, ...}}, got {option!r}")
        name = choose_name(option["name"], tuple(_FIELDS), "loss")
        fields = OptionFields(option, ("name",) + _FIELDS[name], name)
        result: dict[str, Any] = {"name": name}
        if name == "FocalLoss":
            result["alpha"] = fields.number("alpha", "LOSS.FOCAL_ALPHA", ge=0, le=1)
            result["gamma"] = fields.number("gamma", "LOSS.FOCAL_GAMMA", ge=0)
        elif name == "LabelSmoothingLoss":
            result["smoothing"] = fields.number("smoothing", "LOSS.LABEL_SMOOTHING", ge=0, lt=1)
        return dict(sorted(result.items()))

    def apply(self, cfg: Any, option: Any) -> None:
        cfg.LOSS.NAME = option["name"]
        for field, value in option.items():
            if field != "name":
                cfg.LOSS[_KEYS[field]] = value

    def label(self, option: Any) -> str:
        parts = [option["name"]]
        parts += [f"{_SHORT[f]}{format_number(v)}" for f, v in option.items() if f != "name"]
        return "_".join(parts)

    def sweep_parameters(self) -> dict[str, Any]:
        return {
            "name": {"values": list(_FIELDS)},
            "gamma": {"values": [1.0, 2.0, 3.0]},
            "smoothing": {"distribution": "uniform", "min": 0.0, "max": 0.3},
        }

    def option_from_sweep(self, params: Mapping[str, Any]) -> dict[str, Any]:
        params = super().option_from_sweep(params)
        allowed = ("name",) + _FIELDS.get(params.get("name"), ())
        return {key: value for key, value in params.items() if key in allowed}


@hookimpl
def register_categories(register: Any) -> None:
    register(LossFunctionCategory())
