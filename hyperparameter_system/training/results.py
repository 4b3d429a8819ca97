"""What a run reports: the running tally behind result.json and metrics.jsonl.

The tracker is fed by the evaluation handler (one record per evaluation) and
by the training step (samples, time); ``result`` turns it into the
``RESULT_KEYS`` dict of the child contract whatever way the run ended.
"""

from __future__ import annotations

import math
import resource
import time
from typing import Any

from hyperparameter_system.child_contract import RESULT_KEYS, Status
from hyperparameter_system.config.goal import Goal


class RunTracker:
    """Best metric, last evaluation, epochs and throughput of one run.

    Args:
        metric: The deciding metric name, e.g. ``val/acc``.
        goal: ``maximize`` or ``minimize``.
    """

    def __init__(self, metric: str, goal: str) -> None:
        self.metric, self.goal = metric, goal
        self.started = time.perf_counter()
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.final_metrics: dict[str, float] = {}
        self.epochs_run = 0
        self.samples = 0
        self.train_seconds = 0.0

    def elapsed(self) -> float:
        """Seconds since the tracker was made (the run's wall time so far)."""
        return time.perf_counter() - self.started

    def is_better(self, value: float) -> bool:
        """Whether ``value`` beats the best so far in the goal's direction."""
        if not math.isfinite(value):
            return False
        if self.best_metric is None:
            return True
        return Goal(self.goal).better(value, self.best_metric)

    def add_evaluation(self, record: dict[str, Any]) -> None:
        """Take one metrics.jsonl record into account."""
        self.final_metrics = {k: v for k, v in record.items() if "/" in k}
        value = record.get(self.metric)
        if value is not None and self.is_better(float(value)):
            self.best_metric, self.best_epoch = float(value), int(record["epoch"])

    def result(
        self, status: Status, config_path: str, wandb_info: tuple[str | None, str | None], error: str | None
    ) -> dict[str, Any]:
        """The result.json payload, every key of ``RESULT_KEYS`` present."""
        payload = {
            "status": status.value,
            "metric": self.metric,
            "goal": self.goal,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "final_metrics": self.final_metrics,
            "epochs_run": self.epochs_run,
            "duration_s": round(self.elapsed(), 3),
            "samples_per_s": round(self.samples / self.train_seconds, 2) if self.train_seconds > 0 else None,
            "peak_memory_mb": peak_memory_mb(),
            "config_path": config_path,
            "wandb_run_dir": wandb_info[0],
            "wandb_run_id": wandb_info[1],
            "error": error,
        }
        assert tuple(sorted(payload)) == tuple(sorted(RESULT_KEYS)), "result keys drifted from the contract"
        return payload


def peak_memory_mb() -> float:
    """Peak CUDA memory when CUDA was used, else the process's peak RSS."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
