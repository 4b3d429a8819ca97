"""The ``image_size`` category: input resolution, with a batch size that fits memory.

A larger input needs more memory per image, so a batch that fits at 224 px
runs out of memory at 1024 px. Each option therefore also caps
DATALOADER.BATCH_SIZE by a memory rule:

    cap = the largest power of two <= pixel_budget / size ** 2.5
    batch = max(1, min(configured batch, cap))

Memory grows with the pixel count (size ** 2) and in practice a little faster
(deeper feature maps, attention windows), hence the exponent 2.5. The default
budget, ``32 * 640 ** 2.5``, gives the usual GPU ladder 640 -> 32, 800 -> 16,
1024 -> 8, 1280 -> 4 (and 384 -> 128, 224 -> 512). A smaller GPU sets its
own: ``{size: 800, pixel_budget: 1.6e8}``. Sizes used on the CPU demo
(16-64 px) never touch the configured batch.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.matrix.naming import format_number
from hyperparameter_system.option_fields import OptionFields

MIN_SIZE = 8
MEMORY_EXPONENT = 2.5
DEFAULT_PIXEL_BUDGET = 32 * 640**MEMORY_EXPONENT


def batch_cap(size: int, pixel_budget: float = DEFAULT_PIXEL_BUDGET) -> int:
    """The largest power-of-two batch that fits ``pixel_budget`` at ``size`` px (at least 1)."""
    fits = pixel_budget / size**MEMORY_EXPONENT
    if fits < 1:
        return 1
    # A tiny tolerance so that an exact budget (32 at 640 px) is not lost to rounding.
    return 2 ** int(math.floor(math.log2(fits) + 1e-9))


class ImageSizeCategory(BaseCategory):
    """Compares input resolutions; sets INPUT.SIZE and caps DATALOADER.BATCH_SIZE."""

    name = "image_size"
    prefix = "img"
    description = "input resolution (square side in pixels); caps the batch to fit memory"
    pixel_budget = DEFAULT_PIXEL_BUDGET

    def validate(self, option: Any) -> dict[str, Any]:
        if isinstance(option, (int, float)) and not isinstance(option, bool):
            option = {"size": option}
        if not isinstance(option, Mapping) or "size" not in option:
            raise ValueError(f"expected a size in pixels or {{size: N, pixel_budget: B}}, got {option!r}")
        fields = OptionFields(option, ("size", "pixel_budget"), "image_size")
        return {
            "pixel_budget": fields.number("pixel_budget", default=float(self.pixel_budget), gt=0),
            "size": fields.integer("size", ge=MIN_SIZE),
        }

    def apply(self, cfg: Any, option: Any) -> None:
        cfg.INPUT.SIZE = option["size"]
        cap = batch_cap(option["size"], option["pixel_budget"])
        cfg.DATALOADER.BATCH_SIZE = max(1, min(int(cfg.DATALOADER.BATCH_SIZE), cap))

    def label(self, option: Any) -> str:
        text = str(option["size"])
        if option["pixel_budget"] != self.pixel_budget:
            text += f"_budget{format_number(option['pixel_budget'])}"
        return text

    def sweep_parameters(self) -> dict[str, Any]:
        return {"size": {"values": [16, 24, 32, 48, 64]}}


@hookimpl
def register_categories(register: Any) -> None:
    register(ImageSizeCategory())
