"""Loss functions selectable with ``LOSS.NAME``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from hyperparameter_system.config.values import LOSS_NAMES
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from yacs.config import CfgNode


class FocalLoss(nn.Module):
    """Multi-class focal loss: cross entropy down-weighted on easy examples.

    ``alpha * (1 - p_t) ** gamma * CE``; gamma 0 and alpha 1 give plain cross entropy.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha, self.gamma = float(alpha), float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), target, reduction="none")
        p_t = torch.exp(-ce)
        return (self.alpha * (1.0 - p_t) ** self.gamma * ce).mean()


class LabelSmoothingLoss(nn.Module):
    """Cross entropy against ``1 - smoothing`` on the true class, the rest spread evenly.

    Unlike ``CrossEntropyLoss(label_smoothing=...)`` the mass goes to the other
    classes only, as in the reid-strong-baseline recipe.
    """

    def __init__(self, smoothing: float = 0.1) -> None:
        super().__init__()
        self.smoothing = float(smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits.float(), dim=1)
        classes = logits.shape[1]
        dist = torch.full_like(log_probs, self.smoothing / max(classes - 1, 1))
        dist.scatter_(1, target.unsqueeze(1), 1.0 - self.smoothing)
        return -(dist * log_probs).sum(dim=1).mean()


def build_loss(cfg: CfgNode) -> nn.Module:
    """The loss named by ``LOSS.NAME``.

    Raises:
        HpsysError: Unknown name.
    """
    name = str(cfg.LOSS.NAME)
    if name == "CrossEntropyLoss":
        return nn.CrossEntropyLoss()
    if name == "FocalLoss":
        return FocalLoss(cfg.LOSS.FOCAL_ALPHA, cfg.LOSS.FOCAL_GAMMA)
    if name == "LabelSmoothingLoss":
        return LabelSmoothingLoss(cfg.LOSS.LABEL_SMOOTHING)
    raise HpsysError(f"LOSS.NAME: unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}")
