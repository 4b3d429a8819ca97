"""Each training category's effect on the trainer: optimizer, scheduler, warmup, loss, AMP, batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.training.data import build_data
from hyperparameter_system.training.device import resolve_amp
from hyperparameter_system.training.engine import create_trainer
from hyperparameter_system.training.losses import FocalLoss, LabelSmoothingLoss, build_loss
from hyperparameter_system.training.optim import LrController, build_optimizer, build_scheduler


def cfg_with(**solver):
    cfg = get_cfg_defaults()
    for key, value in solver.items():
        setattr(cfg.SOLVER, key, value)
    return cfg


def params():
    return [nn.Parameter(torch.zeros(3))]


@pytest.mark.parametrize(
    ("name", "cls", "expected"),
    [
        ("AdamW", torch.optim.AdamW, {"lr": 0.003, "weight_decay": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
        ("Adam", torch.optim.Adam, {"lr": 0.003, "weight_decay": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
        ("SGD", torch.optim.SGD, {"lr": 0.003, "weight_decay": 0.05, "momentum": 0.7, "nesterov": True}),
    ],
)
def test_optimizer_class_and_hyperparameters(name, cls, expected):
    cfg = cfg_with(OPTIMIZER=name, BASE_LR=0.003, WEIGHT_DECAY=0.05, BETAS=[0.8, 0.99], EPS=1e-6,
                   MOMENTUM=0.7, NESTEROV=True)
    optimizer = build_optimizer(cfg, params())
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert {k: group[k] for k in expected} == expected


# The traces drive schedulers without optimizer steps; torch warns about that order.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")


def lr_trace(cfg, iters_per_epoch, epochs):
    """The lr each iteration trains with, driven the way the handlers drive it."""
    optimizer = build_optimizer(cfg, params())
    controller = LrController(optimizer, build_scheduler(cfg, optimizer, iters_per_epoch),
                              cfg.SOLVER.WARMUP_ITERS, cfg.SOLVER.WARMUP_FACTOR, cfg.SOLVER.WARMUP_METHOD)
    trace = []
    for _ in range(epochs):
        for _ in range(iters_per_epoch):
            trace.append(controller.lr)
            controller.iteration_completed()
        controller.epoch_completed()
    return trace


def test_step_lr_changes_per_epoch_not_per_iteration():
    trace = lr_trace(cfg_with(SCHEDULER="StepLR", BASE_LR=0.1, STEP_SIZE=2, GAMMA=0.5), 3, 5)
    per_epoch = [trace[i * 3] for i in range(5)]
    assert per_epoch == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    assert all(len(set(trace[i * 3:(i + 1) * 3])) == 1 for i in range(5))


def test_multistep_and_cosine_follow_their_formulas():
    multi = lr_trace(cfg_with(SCHEDULER="MultiStepLR", BASE_LR=1.0, MILESTONES=[1, 3], GAMMA=0.1), 1, 4)
    assert multi == pytest.approx([1.0, 0.1, 0.1, 0.01])
    cosine = lr_trace(cfg_with(SCHEDULER="CosineAnnealingLR", BASE_LR=1.0, MAX_EPOCHS=4, ETA_MIN=0.0), 1, 4)
    assert cosine == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])


def test_one_cycle_steps_every_iteration():
    cfg = cfg_with(SCHEDULER="OneCycleLR", BASE_LR=0.01, MAX_LR=0.0, PCT_START=0.3, MAX_EPOCHS=2)
    trace = lr_trace(cfg, 10, 2)
    assert len(set(trace)) == len(trace)  # a new lr on every iteration
    peak = trace.index(max(trace))
    assert max(trace) == pytest.approx(0.1)  # MAX_LR 0 means 10 x BASE_LR
    assert peak == 5  # 30 % of 20 steps, rising then falling
    assert trace[0] == pytest.approx(0.1 / 25) and trace[-1] < trace[0]


def test_linear_and_constant_warmup_scale_the_schedule():
    linear = lr_trace(cfg_with(BASE_LR=1.0, WARMUP_ITERS=4, WARMUP_FACTOR=0.2, WARMUP_METHOD="linear"), 3, 2)
    assert linear == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    constant = lr_trace(cfg_with(BASE_LR=1.0, WARMUP_ITERS=2, WARMUP_FACTOR=0.1, WARMUP_METHOD="constant"), 3, 1)
    assert constant == pytest.approx([0.1, 0.1, 1.0])
    stepped = lr_trace(cfg_with(SCHEDULER="StepLR", BASE_LR=1.0, STEP_SIZE=1, GAMMA=0.5, WARMUP_ITERS=2,
                                WARMUP_FACTOR=0.5), 2, 3)
    assert stepped == pytest.approx([0.5, 0.75, 0.5, 0.5, 0.25, 0.25])  # warmup never compounds into StepLR


def test_lr_in_metrics_follows_the_scheduler(train_run):
    run = train_run({"SOLVER.SCHEDULER": "StepLR", "SOLVER.STEP_SIZE": 1, "SOLVER.GAMMA": 0.5,
                     "SOLVER.MAX_EPOCHS": 3, "DATASETS.MAX_TRAIN_SAMPLES": 256, "INPUT.SIZE": 8})
    assert [line["lr"] for line in run.metrics] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_loss_names_build_their_classes():
    cfg = get_cfg_defaults()
    for name, cls in (("CrossEntropyLoss", nn.CrossEntropyLoss), ("FocalLoss", FocalLoss),
                      ("LabelSmoothingLoss", LabelSmoothingLoss)):
        cfg.LOSS.NAME = name
        assert type(build_loss(cfg)) is cls


def test_focal_and_label_smoothing_values():
    torch.manual_seed(0)
    logits, target = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    ce = F.cross_entropy(logits, target)
    assert FocalLoss(alpha=1.0, gamma=0.0)(logits, target) == pytest.approx(ce.item(), rel=1e-6)
    assert FocalLoss(alpha=0.25, gamma=2.0)(logits, target) < 0.25 * ce
    assert LabelSmoothingLoss(0.0)(logits, target) == pytest.approx(ce.item(), rel=1e-6)
    log_p = F.log_softmax(logits, 1)
    dist = torch.full_like(log_p, 0.3 / 3).scatter_(1, target[:, None], 0.7)
    assert LabelSmoothingLoss(0.3)(logits, target) == pytest.approx((-(dist * log_p).sum(1).mean()).item(), rel=1e-6)


def test_focal_loss_is_the_loss_a_run_trains_with(train_run):
    ce = train_run({"SOLVER.MAX_EPOCHS": 1, "DATASETS.MAX_TRAIN_SAMPLES": 256})
    focal = train_run({"SOLVER.MAX_EPOCHS": 1, "DATASETS.MAX_TRAIN_SAMPLES": 256, "LOSS.NAME": "FocalLoss"})
    # Focal loss scales CE by alpha (1 - p)^gamma: well below plain CE at the same weights.
    assert focal.metrics[0]["train/loss"] < 0.25 * ce.metrics[0]["train/loss"]


def test_batch_shape_follows_input_size_and_batch_size():
    cfg = get_cfg_defaults()
    cfg.INPUT.SIZE, cfg.DATALOADER.BATCH_SIZE = 20, 16
    data = build_data(cfg)
    images, labels = next(iter(data.train_loader))
    assert images.shape == (16, 3, 20, 20) and labels.shape == (16,) and labels.dtype == torch.long
    assert data.num_classes == 10
    assert len(data.train_loader.dataset) + len(data.val_loader.dataset) == 1797
    val_images, _ = next(iter(data.val_loader))
    mean = torch.tensor(cfg.INPUT.PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cfg.INPUT.PIXEL_STD).view(1, 3, 1, 1)
    assert (val_images * std + mean).min() >= -1e-5  # normalised from [0, 1] pixels


def test_early_stopping_stops_after_patience_evaluations(train_run):
    # A negligible lr: val/acc drifts only through BatchNorm statistics, never by MIN_DELTA.
    run = train_run({"SOLVER.OPTIMIZER": "SGD", "SOLVER.MOMENTUM": 0.0, "SOLVER.BASE_LR": 1e-12,
                     "SOLVER.MAX_EPOCHS": 10, "EARLY_STOPPING.ENABLE": True, "EARLY_STOPPING.PATIENCE": 2,
                     "EARLY_STOPPING.MIN_DELTA": 0.2, "DATASETS.MAX_TRAIN_SAMPLES": 128, "INPUT.SIZE": 8})
    assert run.code == 0 and run.result["status"] == "completed"
    assert run.result["epochs_run"] == 3  # the first sets the best, two more without improvement
    assert len(run.metrics) == 3


def test_amp_on_cpu_float16_is_off_bfloat16_is_autocast(train_run):
    cfg = get_cfg_defaults()
    cfg.SOLVER.AMP = True
    assert not resolve_amp(cfg, torch.device("cpu")).enabled
    cfg.SOLVER.AMP_DTYPE = "bfloat16"
    amp = resolve_amp(cfg, torch.device("cpu"))
    assert amp.enabled and amp.dtype is torch.bfloat16 and not amp.use_scaler
    run = train_run({"SOLVER.AMP": True, "SOLVER.AMP_DTYPE": "bfloat16", "SOLVER.MAX_EPOCHS": 1,
                     "DATASETS.MAX_TRAIN_SAMPLES": 256, "INPUT.SIZE": 8})
    assert run.code == 0 and math.isfinite(run.metrics[0]["val/loss"])


def one_step_trainer(**kwargs):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    amp = resolve_amp(get_cfg_defaults(), torch.device("cpu"))
    trainer = create_trainer(model, optimizer, nn.CrossEntropyLoss(), torch.device("cpu"), amp, **kwargs)
    batches = [(torch.randn(8, 4) * 100, torch.randint(0, 3, (8,))) for _ in range(4)]
    return model, optimizer, trainer, batches


def test_grad_clip_bounds_the_update():
    model, _, trainer, batches = one_step_trainer(grad_clip=1e-3)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    trainer.run(batches[:1], max_epochs=1)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert (after - before).norm() == pytest.approx(1e-3, rel=1e-3)  # lr 1 x clipped norm


def test_grad_accum_steps_the_optimizer_every_n_batches():
    model, optimizer, trainer, batches = one_step_trainer(grad_accum=2)
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(trainer.state.iteration))
    trainer.run(batches, max_epochs=1)
    assert steps == [2, 4]
