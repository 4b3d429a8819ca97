"""Every timm model as a plugin family: ``resnet50.tv2_in1k``, ``efficientnet_b0``, ...

``names()`` reads the shipped ``timm_model_names.txt`` (regenerate it with
``python models/refresh_timm_names.py``) so planning never imports timm; only
``build`` does. Pretrained weights go through timm's own loading path
(``create_model(pretrained=True)``, or ``pretrained_cfg_overlay`` for a local
file), so a run that cannot fetch them fails with one clear line.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from hyperparameter_system.errors import first_line
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.model_spec import ModelSpec, read_name_list

NAMES_FILE = Path(__file__).resolve().parent / "timm_model_names.txt"

# Optional keyword arguments, dropped one at a time when a model's constructor
# refuses them: not every architecture has a stochastic-depth rate or a
# configurable input size.
_OPTIONAL_KWARGS = ("img_size", "drop_path_rate")


@lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """Every timm name this install knows (pretrained tags and bare architectures)."""
    return read_name_list(NAMES_FILE)


def build(name: str, num_classes: int, cfg: Any) -> Any:
    """Create ``name`` with ``num_classes`` outputs for ``cfg.INPUT.SIZE`` inputs.

    ``img_size`` is passed to models that take it (swin, vit, ...): their
    position tables depend on the input size, and swin refuses any other.

    Raises:
        RuntimeError: "could not load pretrained weights for NAME: ..." when the
            weights cannot be fetched or read.
    """
    import timm

    if not timm.is_model(name):
        raise RuntimeError(f"timm does not know the model {name!r}")
    kwargs: dict[str, Any] = {
        "num_classes": num_classes,
        "drop_rate": float(cfg.MODEL.DROPOUT),
        "img_size": int(cfg.INPUT.SIZE),
    }
    if cfg.MODEL.DROP_PATH:
        kwargs["drop_path_rate"] = float(cfg.MODEL.DROP_PATH)
    pretrained = bool(cfg.MODEL.PRETRAINED or cfg.MODEL.PRETRAINED_PATH)
    if cfg.MODEL.PRETRAINED_PATH:
        kwargs["pretrained_cfg_overlay"] = {"file": str(cfg.MODEL.PRETRAINED_PATH)}
    while True:
        try:
            return timm.create_model(name, pretrained=pretrained, **kwargs)
        except TypeError as exc:
            refused = next((k for k in _OPTIONAL_KWARGS if k in kwargs and k in str(exc)), None)
            if refused is None:
                raise
            del kwargs[refused]
        except Exception as exc:
            if pretrained:  # the architecture exists, so the weights were the problem
                first = first_line(exc)
                raise RuntimeError(f"could not load pretrained weights for {name}: {first}") from exc
            raise


@hookimpl
def register_models(register: Any) -> None:
    """Register the ``timm`` family."""
    register(
        ModelSpec(
            family="timm",
            names=names,
            build=build,
            description="any timm model (resnet50.tv2_in1k, efficientnet_b0, swin_tiny_patch4_window7_224, ...)",
            imports=("timm",),
        )
    )
