"""Torchvision classification models as a plugin family, spelled ``tv/<name>``.

``names()`` reads the shipped ``torchvision_model_names.txt`` (regenerate it
with ``python models/refresh_timm_names.py``); torchvision is imported only in
``build``. Pretrained weights load through torchvision's own weights enums;
the ImageNet classifier is then swapped for one with the data's class count.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from hyperparameter_system.errors import first_line
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.model_spec import ModelSpec, read_name_list

PREFIX = "tv/"
NAMES_FILE = Path(__file__).resolve().parent / "torchvision_model_names.txt"


@lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """Every ``tv/`` name (classification models of the installed torchvision)."""
    return read_name_list(NAMES_FILE)


def build(name: str, num_classes: int, cfg: Any) -> Any:
    """Build ``tv/<arch>`` with ``num_classes`` outputs.

    Raises:
        RuntimeError: "could not load pretrained weights for NAME: ..." when the
            weights cannot be downloaded or read.
    """
    import torch
    from torchvision import models

    arch = name.removeprefix(PREFIX)
    if not (cfg.MODEL.PRETRAINED or cfg.MODEL.PRETRAINED_PATH):
        return models.get_model(arch, weights=None, num_classes=num_classes)
    try:
        if cfg.MODEL.PRETRAINED_PATH:
            model = models.get_model(arch, weights=None, num_classes=num_classes)
            state = torch.load(cfg.MODEL.PRETRAINED_PATH, map_location="cpu")
            own = model.state_dict()
            state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
            model.load_state_dict(state, strict=False)
            return model
        model = models.get_model(arch, weights=models.get_model_weights(arch).DEFAULT)
    except Exception as exc:
        first = first_line(exc)
        raise RuntimeError(f"could not load pretrained weights for {name}: {first}") from exc
    _replace_head(model, num_classes)
    return model


def _replace_head(model: Any, num_classes: int) -> None:
    """Swap the last ``Linear`` layer for a fresh one with ``num_classes`` outputs."""
    from torch import nn

    last = None
    for qualified, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = (qualified, module)
    if last is None:
        raise RuntimeError(f"cannot find a classifier layer in {type(model).__name__}")
    qualified, linear = last
    parent_name, _, attr = qualified.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, nn.Linear(linear.in_features, num_classes, bias=linear.bias is not None))


@hookimpl
def register_models(register: Any) -> None:
    """Register the ``torchvision`` family."""
    register(
        ModelSpec(
            family="torchvision",
            names=names,
            build=build,
            description="torchvision classification models as tv/<name> (tv/resnet18, tv/mobilenet_v3_small, ...)",
            imports=("torchvision",),
        )
    )
