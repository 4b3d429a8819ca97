"""The ignite engines: a training step and an evaluator, nothing else.

The trainer engine does not know about evaluation, checkpoints, logging or
signals; those attach themselves as handlers (``handlers.py``). One training
iteration is forward (under autocast when AMP is on), backward (through a
GradScaler for float16 on CUDA), and an optimizer step every GRAD_ACCUM
iterations with optional gradient-norm clipping.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable

import torch
from ignite.engine import Engine
from torch import nn

from hyperparameter_system.training.device import AmpSettings


def _autocast(amp: AmpSettings) -> Any:
    if not amp.enabled:
        return nullcontext()
    return torch.autocast(device_type=amp.device_type, dtype=amp.dtype)


def create_trainer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    device: torch.device,
    amp: AmpSettings,
    grad_clip: float = 0.0,
    grad_accum: int = 1,
) -> Engine:
    """An engine whose output per iteration is ``{"loss", "correct", "count"}``.

    ``loss`` is the un-scaled batch loss as a float (NaN stays NaN so a
    handler can notice); ``correct``/``count`` feed running train accuracy.
    """
    scaler = torch.amp.GradScaler(device.type, enabled=amp.use_scaler)
    accum = max(int(grad_accum), 1)
    non_blocking = device.type == "cuda"

    def step(engine: Engine, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        model.train()
        images = batch[0].to(device, non_blocking=non_blocking)
        labels = batch[1].to(device, non_blocking=non_blocking)
        with _autocast(amp):
            logits = model(images)
            loss = loss_fn(logits, labels)
        scaler.scale(loss / accum).backward()
        if engine.state.iteration % accum == 0:
            if grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        correct = (logits.detach().argmax(dim=1) == labels).sum()
        return {"loss": loss.item(), "correct": float(correct.item()), "count": float(labels.shape[0])}

    return Engine(step)


def create_evaluator(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    device: torch.device,
    amp: AmpSettings,
) -> Engine:
    """An engine computing ``loss``, ``acc`` and macro ``f1`` with ignite metrics."""
    from ignite.metrics import Accuracy, Fbeta, Loss

    non_blocking = device.type == "cuda"

    @torch.no_grad()
    def step(_engine: Engine, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        model.eval()
        images = batch[0].to(device, non_blocking=non_blocking)
        labels = batch[1].to(device, non_blocking=non_blocking)
        with _autocast(amp):
            logits = model(images)
        return logits.float(), labels

    evaluator = Engine(step)
    Loss(loss_fn, device=device).attach(evaluator, "loss")
    Accuracy(device=device).attach(evaluator, "acc")
    Fbeta(beta=1.0, average=True, device=device).attach(evaluator, "f1")
    return evaluator
