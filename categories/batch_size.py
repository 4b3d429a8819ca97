"""The ``batch_size`` category: samples per step, mixed precision, linear lr scaling.

``{size: 128, scale_lr: true}`` also multiplies SOLVER.BASE_LR by
``128 / (the batch size the cell had before)``: the linear scaling rule,
so a bigger batch is compared at a comparable effective step size. ``amp``
switches mixed precision. A bare number is ``{size: N}``.
"""

from __future__ import annotations

from typing import Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.option_fields import OptionFields


class BatchSizeCategory(BaseCategory):
    """Compares batch sizes; sets DATALOADER.BATCH_SIZE, SOLVER.AMP and maybe SOLVER.BASE_LR."""

    name = "batch_size"
    prefix = "bs"
    description = "batch size, mixed precision and linear learning-rate scaling"

    def validate(self, option: Any) -> dict[str, Any]:
        if isinstance(option, (int, float)) and not isinstance(option, bool):
            option = {"size": option}
        if not isinstance(option, Mapping) or "size" not in option:
            raise ValueError(f"expected a batch size or {{size: N, amp: bool, scale_lr: bool}}, got {option!r}")
        fields = OptionFields(option, ("size", "amp", "scale_lr"), "batch_size")
        return {
            "amp": fields.boolean("amp", "SOLVER.AMP"),
            "scale_lr": fields.boolean("scale_lr", default=False),
            "size": fields.integer("size", ge=1),
        }

    def apply(self, cfg: Any, option: Any) -> None:
        old = int(cfg.DATALOADER.BATCH_SIZE)
        cfg.DATALOADER.BATCH_SIZE = option["size"]
        cfg.SOLVER.AMP = option["amp"]
        if option["scale_lr"]:
            cfg.SOLVER.BASE_LR = float(cfg.SOLVER.BASE_LR) * option["size"] / old

    def label(self, option: Any) -> str:
        parts = [str(option["size"])]
        if option["amp"]:
            parts.append("amp")
        if option["scale_lr"]:
            parts.append("lrscaled")
        return "_".join(parts)

    def sweep_parameters(self) -> dict[str, Any]:
        return {"size": {"values": [16, 32, 64, 128]}, "scale_lr": {"values": [False, True]}}


@hookimpl
def register_categories(register: Any) -> None:
    register(BatchSizeCategory())
