"""One training run end to end: prepare, train, and always leave a result behind.

``prepare`` does everything a user's mistake can break (model name, data
files, device) before anything is written, so those end as one line and exit
code 2. ``execute`` then owns the output folder: whatever happens inside
(NaN loss, out of memory, SIGTERM, a bug, a pretrained download failing), it
writes result.json with the matching status and returns the exit code of the
child contract.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import Status
from hyperparameter_system.training import handlers as h
from hyperparameter_system.training.data import DataBundle, build_data
from hyperparameter_system.training.device import AmpSettings, resolve_amp, resolve_device
from hyperparameter_system.training.engine import create_evaluator, create_trainer
from hyperparameter_system.training.losses import build_loss
from hyperparameter_system.training.optim import LrController, build_optimizer, build_scheduler
from hyperparameter_system.training.results import RunTracker
from hyperparameter_system.training.seeding import seed_everything
from hyperparameter_system.training.signals import StopRequest
from hyperparameter_system.training.transforms import channel_stats
from hyperparameter_system.training.wandb_background import BackgroundWandb
from hyperparameter_system.tracking.wandb_run import WandbRun

if TYPE_CHECKING:
    from yacs.config import CfgNode

log = logging.getLogger("hyperparameter_system.train")


@dataclass
class Prepared:
    """What ``prepare`` checked and built: the registry's builder, data, device, AMP."""

    cfg: CfgNode
    build_model: Any
    data: DataBundle
    device: torch.device
    amp: AmpSettings
    config_path: str


def prepare(cfg: CfgNode, config_path: str) -> Prepared:
    """Seed, find the model's builder, build the data, pick the device.

    Raises:
        HpsysError: Unknown model, missing data, unusable device (exit 2).
    """
    from hyperparameter_system.training.models import model_registry

    seed_everything(int(cfg.SEED))
    registry = model_registry()
    spec = registry.model_family(cfg.MODEL.NAME)
    device = resolve_device(str(cfg.DEVICE))
    amp = resolve_amp(cfg, device)
    data = build_data(cfg)
    return Prepared(cfg, spec.build, data, device, amp, config_path)


def execute(prep: Prepared, stop: StopRequest) -> int:
    """Train and write result.json whatever happens; return the exit code."""
    cfg = prep.cfg
    out = Path(cfg.OUTPUT_DIR)
    (out / cc.METRICS_FILE).write_text("", encoding="utf-8")  # this attempt's evaluations only
    tracker = RunTracker(str(cfg.METRIC.NAME), str(cfg.METRIC.GOAL))
    wandb = BackgroundWandb(WandbRun(cfg, out))
    tb = None
    status, code, error = Status.COMPLETED, cc.EXIT_OK, None
    try:
        if cfg.TENSORBOARD.ENABLE:
            from hyperparameter_system.training.tensorboard_sink import TensorBoardSink

            tb = TensorBoardSink(out)
        if not stop.requested:  # a stop during start-up (imports, data) ends here: no W&B run, no step
            _train(prep, stop, tracker, wandb, tb)
        if stop.requested:
            status, code, error = Status.STOPPED, cc.EXIT_STOPPED, f"stopped by {stop.signal_name}"
    except Exception as exc:
        status, code, error = classify_failure(exc, cfg)
        log.error("run ended %s: %s", status.value, error)
    cc.write_json_atomic(out / cc.RESULT_FILE, tracker.result(status, prep.config_path, wandb.info, error))
    if tb is not None:
        tb.close()
    summary = {f"best/{tracker.metric}": tracker.best_metric, "best_epoch": tracker.best_epoch, "status": status.value}
    wandb.finish(summary, exit_code=code)
    log.info("status %s, best %s %s", status.value, tracker.metric, tracker.best_metric)
    return code


def classify_failure(exc: Exception, cfg: CfgNode) -> tuple[Status, int, str]:
    """Map an exception out of training to (status, exit code, one-line error)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, h.NonFiniteLossError):
        return Status.NONFINITE, cc.EXIT_NONFINITE, first
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        batch = cfg.DATALOADER.BATCH_SIZE
        return Status.OOM, cc.EXIT_OOM, f"CUDA out of memory at DATALOADER.BATCH_SIZE {batch} (try a smaller one): {first}"
    log.error("training failed:\n%s", traceback.format_exc())
    # Model plugins report unloadable weights as a RuntimeError whose text says it all.
    text = first if type(exc) is RuntimeError and first else f"{type(exc).__name__}: {first}"
    return Status.FAILED, cc.EXIT_FAILED, text


def _train(prep: Prepared, stop: StopRequest, tracker: RunTracker, wandb: BackgroundWandb, tb: Any) -> None:
    """Build model and solver, attach the handlers, run the engine."""
    cfg, data, device, s = prep.cfg, prep.data, prep.device, prep.cfg.SOLVER
    wandb.start(_sample_images(prep, wandb.run))  # opens beside model building and training
    model = prep.build_model(str(cfg.MODEL.NAME), int(cfg.MODEL.NUM_CLASSES) or data.num_classes, cfg).to(device)
    loss_fn = build_loss(cfg).to(device)
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer, len(data.train_loader))
    controller = LrController(optimizer, scheduler, int(s.WARMUP_ITERS), float(s.WARMUP_FACTOR), str(s.WARMUP_METHOD))
    trainer = create_trainer(model, optimizer, loss_fn, device, prep.amp, float(s.GRAD_CLIP), int(s.GRAD_ACCUM))
    evaluator = create_evaluator(model, loss_fn, device, prep.amp)
    _attach_handlers(prep, trainer, evaluator, controller, stop, tracker, [wandb, tb])
    if cfg.CHECKPOINT.ENABLE:
        to_save = {"model": model, "optimizer": optimizer, "trainer": trainer}
        h.attach_checkpoints(trainer, evaluator, to_save, cfg, Path(cfg.OUTPUT_DIR) / "checkpoints")
    h.attach_progress_bar(trainer)

    if cfg.WANDB.WATCH:  # its hooks must be on the model before the first step
        wandb.wait()
        wandb.run.watch(model, int(cfg.LOG_PERIOD))
    log.info("training %s on %s (%d classes, %d train / %d val samples), %d epochs", cfg.MODEL.NAME, device,
             data.num_classes, len(data.train_loader.dataset), len(data.val_loader.dataset), s.MAX_EPOCHS)
    trainer.run(data.train_loader, max_epochs=int(s.MAX_EPOCHS))


def _sample_images(prep: Prepared, run: WandbRun) -> Callable[[], None] | None:
    """What logs one grid of validation images once the run is open; None when nothing will be logged.

    The batch is drawn here, on the training thread (a loader's workers are not shared across
    threads), from the val loader: no RNG draw, so the seeds stay put.
    """
    if not prep.cfg.WANDB.LOG_IMAGES or run.mode == "disabled":
        return None
    images, _ = next(iter(prep.data.val_loader))
    return lambda: run.log_images(images, *channel_stats(prep.cfg))


def _attach_handlers(prep: Prepared, trainer: Any, evaluator: Any, controller: LrController, stop: StopRequest,
                     tracker: RunTracker, loggers: list[Any]) -> None:
    """The handlers in the order they must fire (stats and guards first, lr steps last)."""
    cfg = prep.cfg
    loggers = [logger for logger in loggers if logger is not None]
    h.attach_train_stats(trainer, tracker)
    h.attach_nonfinite_guard(trainer)
    stop.attach(trainer)
    _attach_train_logging(trainer, controller, int(cfg.LOG_PERIOD), loggers)
    h.attach_lr_controller_iterations(trainer, controller)
    metrics_file = Path(cfg.OUTPUT_DIR) / cc.METRICS_FILE
    sinks = [lambda record: cc.append_jsonl(metrics_file, record), h.log_record]
    sinks += [logger.log_evaluation for logger in loggers]
    h.attach_evaluation(trainer, evaluator, prep.data.val_loader, period=int(cfg.EVAL_PERIOD),
                        lr=lambda: controller.last_used_lr, tracker=tracker, sinks=sinks)
    h.attach_lr_controller_epochs(trainer, controller)
    if cfg.EARLY_STOPPING.ENABLE:
        h.attach_early_stopping(trainer, evaluator, cfg)


def _attach_train_logging(trainer: Any, controller: LrController, period: int, loggers: list[Any]) -> None:
    """Every ``period`` iterations: train/loss, train/acc and train/lr to W&B and TensorBoard."""
    from ignite.engine import Events

    def log_iteration(engine: Any) -> None:
        out = engine.state.output
        values = {"train/loss": out["loss"], "train/acc": out["correct"] / max(out["count"], 1.0),
                  "train/lr": controller.lr}
        for logger in loggers:
            logger.log_train(engine.state.iteration, values)

    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=max(period, 1)), log_iteration)
