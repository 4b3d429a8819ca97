"""Optimizers, lr schedulers and warmup, from the SOLVER section.

OneCycleLR steps every iteration, the others every epoch. Warmup is a factor
on top of whatever the scheduler says for the first WARMUP_ITERS iterations;
the scheduler's own value is restored before each of its steps, so chainable
schedulers (StepLR, Cosine) never compound the warmup factor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import torch
from torch.optim import lr_scheduler

from hyperparameter_system.config.values import OPTIMIZER_EXTRAS, OPTIMIZER_NAMES, SCHEDULER_NAMES, WARMUP_METHODS
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from yacs.config import CfgNode


def build_optimizer(cfg: CfgNode, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer named by ``SOLVER.OPTIMIZER`` with the SOLVER hyperparameters.

    Raises:
        HpsysError: Unknown name.
    """
    s = cfg.SOLVER
    name = str(s.OPTIMIZER)
    if name not in OPTIMIZER_EXTRAS:
        raise HpsysError(f"SOLVER.OPTIMIZER: unknown optimizer {name!r}; known: {', '.join(OPTIMIZER_NAMES)}")
    cls = getattr(torch.optim, name)  # the names are torch.optim's own
    if "betas" in OPTIMIZER_EXTRAS[name]:
        return cls(params, lr=s.BASE_LR, betas=tuple(s.BETAS), eps=s.EPS, weight_decay=s.WEIGHT_DECAY)
    return cls(params, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=bool(s.NESTEROV), weight_decay=s.WEIGHT_DECAY)


def build_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer, iters_per_epoch: int) -> Any:
    """The scheduler named by ``SOLVER.SCHEDULER``, or None for ``none``.

    Raises:
        HpsysError: Unknown name.
    """
    s = cfg.SOLVER
    name = str(s.SCHEDULER)
    epochs = int(s.MAX_EPOCHS)
    if name == "none":
        return None
    if name == "CosineAnnealingLR":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(s.T_MAX) or epochs, eta_min=s.ETA_MIN)
    if name == "OneCycleLR":
        return lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=s.MAX_LR or 10 * s.BASE_LR,
            total_steps=max(epochs * iters_per_epoch, 1),
            pct_start=s.PCT_START,
        )
    if name == "StepLR":
        return lr_scheduler.StepLR(optimizer, step_size=int(s.STEP_SIZE), gamma=s.GAMMA)
    if name == "MultiStepLR":
        return lr_scheduler.MultiStepLR(optimizer, milestones=[int(m) for m in s.MILESTONES], gamma=s.GAMMA)
    raise HpsysError(f"SOLVER.SCHEDULER: unknown scheduler {name!r}; known: {', '.join(SCHEDULER_NAMES)}")


class LrController:
    """Drives the scheduler and the warmup; the engine calls it at boundaries.

    Args:
        optimizer: The optimizer whose param groups are set.
        scheduler: A torch scheduler or None.
        warmup_iters: Iterations of warmup (0 disables).
        warmup_factor: Starting fraction of the scheduled lr.
        warmup_method: ``linear`` (ramp to 1) or ``constant`` (hold the factor).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        warmup_iters: int = 0,
        warmup_factor: float = 0.1,
        warmup_method: str = "linear",
    ) -> None:
        if warmup_method not in WARMUP_METHODS:
            raise HpsysError(f"SOLVER.WARMUP_METHOD: must be one of {', '.join(WARMUP_METHODS)}, got {warmup_method!r}")
        self.optimizer, self.scheduler = optimizer, scheduler
        self.per_iteration = isinstance(scheduler, lr_scheduler.OneCycleLR)
        self.warmup_iters, self.warmup_factor, self.warmup_method = warmup_iters, warmup_factor, warmup_method
        self.iteration = 0
        self._scheduled = [group["lr"] for group in optimizer.param_groups]
        self._apply()
        self.last_used_lr = self.lr

    @property
    def lr(self) -> float:
        """The lr the next iteration uses (first param group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def warmup_multiplier(self, iteration: int) -> float:
        """The factor applied at 0-based ``iteration``."""
        if iteration >= self.warmup_iters:
            return 1.0
        if self.warmup_method == "constant":
            return self.warmup_factor
        return self.warmup_factor + (1.0 - self.warmup_factor) * iteration / self.warmup_iters

    def iteration_completed(self) -> None:
        """Advance one iteration; steps a per-iteration scheduler."""
        self.last_used_lr = self.lr
        self.iteration += 1
        if self.per_iteration:
            self._step()
        self._apply()

    def epoch_completed(self) -> None:
        """Steps a per-epoch scheduler."""
        if self.scheduler is not None and not self.per_iteration:
            self._step()
            self._apply()

    def _step(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._scheduled):
            group["lr"] = lr
        self.scheduler.step()
        self._scheduled = [group["lr"] for group in self.optimizer.param_groups]

    def _apply(self) -> None:
        factor = self.warmup_multiplier(self.iteration)
        for group, lr in zip(self.optimizer.param_groups, self._scheduled):
            group["lr"] = lr * factor
