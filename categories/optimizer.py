"""The ``optimizer`` category: which optimizer, its learning rate and regularisation.

Options: ``{name: AdamW|Adam|SGD, lr, weight_decay}`` plus ``momentum`` and
``nesterov`` for SGD or ``betas`` for Adam/AdamW. A field the optimizer does
not have is an error rather than silently ignored (``betas`` on SGD would
otherwise look like a tested setting). Missing fields take the YACS defaults.
"""

from __future__ import annotations

from typing import Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.config.values import OPTIMIZER_EXTRAS
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.matrix.naming import format_number
from hyperparameter_system.option_fields import OptionFields, choose_name

_COMMON = ("name", "lr", "weight_decay")
_FIELDS = {name: _COMMON + extras for name, extras in OPTIMIZER_EXTRAS.items()}
_DEFAULT_BETAS = [0.9, 0.999]


class OptimizerCategory(BaseCategory):
    """Compares optimizers; sets SOLVER.OPTIMIZER, BASE_LR, WEIGHT_DECAY and their extras."""

    name = "optimizer"
    prefix = "opt"
    description = "optimizer, learning rate and weight decay"

    def validate(self, option: Any) -> dict[str, Any]:
        if isinstance(option, str):
            option = {"name": option}
        if not isinstance(option, Mapping) or "name" not in option:
            raise ValueError(f"expected {{name: AdamW|Adam|SGD, lr: ...}}, got {option!r}")
        name = choose_name(option["name"], tuple(_FIELDS), "optimizer")
        fields = OptionFields(option, _FIELDS[name], name)
        result: dict[str, Any] = {
            "name": name,
            "lr": fields.number("lr", "SOLVER.BASE_LR", gt=0),
            "weight_decay": fields.number("weight_decay", "SOLVER.WEIGHT_DECAY", ge=0),
        }
        if name == "SGD":
            result["momentum"] = fields.number("momentum", "SOLVER.MOMENTUM", ge=0, lt=1)
            result["nesterov"] = fields.boolean("nesterov", "SOLVER.NESTEROV")
            if result["nesterov"] and result["momentum"] == 0:
                raise ValueError("nesterov needs momentum > 0, but got momentum=0")
        else:
            betas = fields.number_list("betas", "SOLVER.BETAS")
            if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
                raise ValueError(f"betas must be two numbers in [0, 1), but got betas={betas}")
            result["betas"] = betas
        return dict(sorted(result.items()))

    def apply(self, cfg: Any, option: Any) -> None:
        cfg.SOLVER.OPTIMIZER = option["name"]
        cfg.SOLVER.BASE_LR = option["lr"]
        cfg.SOLVER.WEIGHT_DECAY = option["weight_decay"]
        if option["name"] == "SGD":
            cfg.SOLVER.MOMENTUM = option["momentum"]
            cfg.SOLVER.NESTEROV = option["nesterov"]
        else:
            cfg.SOLVER.BETAS = list(option["betas"])

    def label(self, option: Any) -> str:
        parts = [option["name"], f"lr{format_number(option['lr'])}", f"wd{format_number(option['weight_decay'])}"]
        if option["name"] == "SGD":
            parts.append(f"m{format_number(option['momentum'])}")
            if option["nesterov"]:
                parts.append("nesterov")
        elif option["betas"] != _DEFAULT_BETAS:
            parts.append("b" + "-".join(format_number(b) for b in option["betas"]))
        return "_".join(parts)

    def sweep_parameters(self) -> dict[str, Any]:
        return {
            "name": {"values": list(_FIELDS)},
            "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
            "weight_decay": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-1},
        }

    def option_from_sweep(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Keep only the fields the sampled optimizer has (a sweep may sample momentum for AdamW)."""
        params = super().option_from_sweep(params)
        allowed = _FIELDS.get(params.get("name"), _COMMON)
        return {key: value for key, value in params.items() if key in allowed}


@hookimpl
def register_categories(register: Any) -> None:
    register(OptimizerCategory())
