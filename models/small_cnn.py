"""The built-in ``small_cnn``: a few conv layers that learn digits in seconds on a CPU.

Two conv blocks and a linear head. It is the smoke-test model of the project: the demo matrix and the test suite
train it for real, so it must reach >80 % validation accuracy on digits in two
epochs at any input size from 8 px up. Global average pooling makes it size
agnostic; no torchvision or timm import keeps a child process start cheap.
"""

from __future__ import annotations

from typing import Any

from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.model_spec import ModelSpec

NAME = "small_cnn"


def build(name: str, num_classes: int, cfg: Any) -> Any:
    """Build the network; ``cfg.MODEL.DROPOUT`` adds dropout before the classifier.

    Pretrained weights do not exist for it; ``MODEL.PRETRAINED_PATH`` may name a
    state dict saved from an earlier run.
    """
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    # Pooling to a 4x4 map (not 1x1) keeps where strokes are, which is most
    # of what tells digits apart; it also makes the net input-size agnostic.
    model = nn.Sequential(
        block(3, 32),
        nn.MaxPool2d(2, ceil_mode=True),
        block(32, 64),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Dropout(float(cfg.MODEL.DROPOUT)),
        nn.Linear(64 * 16, num_classes),
    )
    if cfg.MODEL.PRETRAINED:
        raise RuntimeError(f"could not load pretrained weights for {name}: none exist for this model")
    if cfg.MODEL.PRETRAINED_PATH:
        model.load_state_dict(torch.load(cfg.MODEL.PRETRAINED_PATH, map_location="cpu"))
    return model


@hookimpl
def register_models(register: Any) -> None:
    """Register the ``small_cnn`` family (one name)."""
    register(
        ModelSpec(
            family="small_cnn",
            names=lambda: (NAME,),
            build=build,
            description="3-layer CNN for smoke runs: learns digits in seconds on a CPU",
        )
    )
