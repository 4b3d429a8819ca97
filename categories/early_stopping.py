"""The ``early_stopping`` category: stop a run when the experiment metric stalls.

``{patience: 2, min_delta: 0.01}`` stops after two evaluations without an
improvement of at least 0.01 in METRIC.NAME. A bare number is the patience.
Comparing patience values shows how much training time a model can save.
"""

from __future__ import annotations

from typing import Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.matrix.naming import format_number
from hyperparameter_system.option_fields import OptionFields


class EarlyStoppingCategory(BaseCategory):
    """Compares early-stopping settings; enables EARLY_STOPPING with PATIENCE and MIN_DELTA."""

    name = "early_stopping"
    prefix = "es"
    description = "stop when the metric stops improving"

    def validate(self, option: Any) -> dict[str, Any]:
        if isinstance(option, (int, float)) and not isinstance(option, bool):
            option = {"patience": option}
        if not isinstance(option, Mapping) or "patience" not in option:
            raise ValueError(f"expected a patience or {{patience: N, min_delta: D}}, got {option!r}")
        fields = OptionFields(option, ("patience", "min_delta"), "early_stopping")
        return {
            "min_delta": fields.number("min_delta", "EARLY_STOPPING.MIN_DELTA", ge=0),
            "patience": fields.integer("patience", ge=1),
        }

    def apply(self, cfg: Any, option: Any) -> None:
        cfg.EARLY_STOPPING.ENABLE = True
        cfg.EARLY_STOPPING.PATIENCE = option["patience"]
        cfg.EARLY_STOPPING.MIN_DELTA = option["min_delta"]

    def label(self, option: Any) -> str:
        return f"p{option['patience']}_d{format_number(option['min_delta'])}"

    def sweep_parameters(self) -> dict[str, Any]:
        return {"patience": {"values": [1, 2, 3, 5]},
                "min_delta": {"distribution": "uniform", "min": 0.0, "max": 0.02}}


@hookimpl
def register_categories(register: Any) -> None:
    register(EarlyStoppingCategory())
