"""Handlers that attach themselves to the trainer: the engine knows none of them.

Each ``attach_*`` function adds one behaviour: training statistics,
evaluation (which hands each metrics record to its sinks: metrics.jsonl,
W&B, TensorBoard, the log), the non-finite guard, early stopping,
checkpoints, lr control and a progress bar.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ignite.engine import Engine, Events

from hyperparameter_system.config.goal import Goal
from hyperparameter_system.training.optim import LrController
from hyperparameter_system.training.results import RunTracker

if TYPE_CHECKING:
    from yacs.config import CfgNode

log = logging.getLogger("hyperparameter_system.train")

MetricsSink = Callable[[dict[str, Any]], None]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def attach_train_stats(trainer: Engine, tracker: RunTracker) -> None:
    """Epoch-average train loss/acc on ``trainer.state.train_stats``; samples and train time on the tracker."""

    def epoch_started(engine: Engine) -> None:
        engine.state.train_stats = {"loss": 0.0, "correct": 0.0, "count": 0.0, "batches": 0}
        engine.state.epoch_clock = time.perf_counter()

    def iteration_completed(engine: Engine) -> None:
        out, stats = engine.state.output, engine.state.train_stats
        stats["loss"] += out["loss"]
        stats["correct"] += out["correct"]
        stats["count"] += out["count"]
        stats["batches"] += 1
        tracker.samples += int(out["count"])

    def epoch_completed(engine: Engine) -> None:
        tracker.train_seconds += time.perf_counter() - engine.state.epoch_clock
        tracker.epochs_run = engine.state.epoch

    trainer.add_event_handler(Events.EPOCH_STARTED, epoch_started)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, iteration_completed)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, epoch_completed)


def attach_nonfinite_guard(trainer: Engine) -> None:
    """Raise :class:`NonFiniteLossError` at the first NaN/inf loss (status nonfinite, exit 3)."""

    def check(engine: Engine) -> None:
        loss = engine.state.output["loss"]
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"loss became {loss} at epoch {engine.state.epoch}, iteration {engine.state.iteration}"
            )

    trainer.add_event_handler(Events.ITERATION_COMPLETED, check)


def attach_lr_controller_iterations(trainer: Engine, controller: LrController) -> None:
    """Warmup and per-iteration scheduler steps (after the iteration's loggers)."""
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: controller.iteration_completed())


def attach_lr_controller_epochs(trainer: Engine, controller: LrController) -> None:
    """Per-epoch scheduler steps (after evaluation recorded the epoch's lr)."""
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: controller.epoch_completed())


def attach_evaluation(
    trainer: Engine,
    evaluator: Engine,
    val_loader: Any,
    *,
    period: int,
    lr: Callable[[], float],
    tracker: RunTracker,
    sinks: list[MetricsSink],
) -> None:
    """Evaluate every ``period`` epochs and at the last epoch; hand each record to the sinks.

    A record is one metrics.jsonl line: epoch, step, lr, elapsed_s and the flat
    metrics ``val/loss``, ``val/acc``, ``val/f1``, ``train/loss``, ``train/acc``.
    Registered before the lr controller's epoch step, so ``lr`` is the one the
    epoch trained with.
    """

    def evaluate(engine: Engine) -> None:
        epoch = engine.state.epoch
        if epoch % max(period, 1) and epoch != engine.state.max_epochs:
            return
        evaluator.run(val_loader)
        stats = engine.state.train_stats
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": engine.state.iteration,
            "lr": lr(),
            "elapsed_s": round(tracker.elapsed(), 3),
            "train/loss": stats["loss"] / max(stats["batches"], 1),
            "train/acc": stats["correct"] / max(stats["count"], 1.0),
        }
        record.update({f"val/{k}": float(v) for k, v in evaluator.state.metrics.items()})
        tracker.add_evaluation(record)
        for sink in sinks:
            sink(record)

    trainer.add_event_handler(Events.EPOCH_COMPLETED, evaluate)


def _score_function(metric: str, goal: str) -> Callable[[Engine], float]:
    """Ignite handlers maximise a score; ``minimize`` metrics are negated."""
    short = metric.split("/", 1)[1]
    sign = Goal(goal).sign

    def score(engine: Engine) -> float:
        value = float(engine.state.metrics[short])
        return sign * value if math.isfinite(value) else -math.inf

    return score


def attach_early_stopping(trainer: Engine, evaluator: Engine, cfg: CfgNode) -> None:
    """Stop when METRIC.NAME has not improved by MIN_DELTA for PATIENCE evaluations."""
    from ignite.handlers import EarlyStopping

    handler = EarlyStopping(
        patience=int(cfg.EARLY_STOPPING.PATIENCE),
        score_function=_score_function(cfg.METRIC.NAME, cfg.METRIC.GOAL),
        trainer=trainer,
        threshold=float(cfg.EARLY_STOPPING.MIN_DELTA),
    )
    evaluator.add_event_handler(Events.COMPLETED, handler)


def attach_checkpoints(trainer: Engine, evaluator: Engine, to_save: dict[str, Any], cfg: CfgNode, folder: Path) -> None:
    """Best checkpoints (N_SAVED kept, by METRIC.NAME) and the last one, under ``folder``."""
    from ignite.handlers import Checkpoint, DiskSaver, global_step_from_engine

    saver = DiskSaver(str(folder), require_empty=False, create_dir=True)
    best = Checkpoint(
        {"model": to_save["model"]},
        saver,
        filename_prefix="best",
        n_saved=max(int(cfg.CHECKPOINT.N_SAVED), 1),
        score_function=_score_function(cfg.METRIC.NAME, cfg.METRIC.GOAL),
        score_name=cfg.METRIC.NAME.replace("/", "_"),
        global_step_transform=global_step_from_engine(trainer),
    )
    evaluator.add_event_handler(Events.COMPLETED, best)
    last = Checkpoint(to_save, saver, filename_prefix="last", n_saved=1)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, last)


def attach_progress_bar(trainer: Engine) -> None:
    """A tqdm bar with the running loss, only when stderr is a terminal (not in logs)."""
    if not sys.stderr.isatty():
        return
    from ignite.handlers import ProgressBar

    ProgressBar(persist=False).attach(trainer, output_transform=lambda out: {"loss": out["loss"]})


def log_record(record: dict[str, Any]) -> None:
    """A metrics sink writing one human line per evaluation into log.txt."""
    metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(record.items()) if "/" in k)
    log.info("epoch %d step %d lr %.3g: %s", record["epoch"], record["step"], record["lr"], metrics)
