"""The retry policy: what to do after an attempt ends unsuccessfully.

- ``failed`` with exit code 2 (``EXIT_CONFIG``: the child refused its config
  or command line): final; the same config is refused again every time.
- ``failed`` (a crash): try again, up to ``retries`` extra attempts, waiting
  ``backoff_s * 2**k`` before each, because crashes are often transient (a full
  disk, a flaky data mount, a busy GPU).
- ``oom``: try again with half the batch size and twice the gradient
  accumulation (the same effective batch), until ``min_batch_size``.
- ``nonfinite``, ``timeout``, ``stopped``: final; repeating would diverge, hang or
  ignore the user's Ctrl-C again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hyperparameter_system.cell import Cell
from hyperparameter_system.child_contract import EXIT_CONFIG, Status

BATCH_KEY = "DATALOADER.BATCH_SIZE"
ACCUM_KEY = "SOLVER.GRAD_ACCUM"


@dataclass(frozen=True)
class RetryPlan:
    """The next attempt: its extra YACS overrides and how long to wait first."""

    overrides: tuple[tuple[str, Any], ...]
    delay_s: float
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """Limits from ``execution:`` (retries, min_batch_size) plus the backoff base."""

    retries: int = 1
    min_batch_size: int = 1
    backoff_s: float = 2.0

    def next(self, cell: Cell, status: Status, crashes_so_far: int,
             overrides: Sequence[tuple[str, Any]], exit_code: int | None = None) -> RetryPlan | None:
        """The retry after an attempt ended with ``status``, or None when final.

        Args:
            crashes_so_far: Attempts of this cell that ended ``failed`` in this run.
            overrides: The retry overrides the ended attempt ran with.
            exit_code: The child's exit code (None: killed or never started).
        """
        if status == Status.FAILED and exit_code == EXIT_CONFIG:
            return None
        if status == Status.FAILED and crashes_so_far <= self.retries:
            delay = self.backoff_s * (2 ** (crashes_so_far - 1))
            return RetryPlan(tuple(overrides), delay, f"crash {crashes_so_far}/{self.retries}")
        if status == Status.OOM:
            return self._halve(cell, overrides)
        return None

    def _halve(self, cell: Cell, overrides: Sequence[tuple[str, Any]]) -> RetryPlan | None:
        batch, accum = current_batch(cell, overrides)
        if batch <= self.min_batch_size:
            return None
        new_batch = max(self.min_batch_size, batch // 2)
        new_accum = max(1, round(accum * batch / new_batch))
        plan = ((BATCH_KEY, new_batch), (ACCUM_KEY, new_accum))
        return RetryPlan(plan, 0.0, f"out of memory at batch {batch}: batch {new_batch} x accum {new_accum}")


def current_batch(cell: Cell, overrides: Sequence[tuple[str, Any]]) -> tuple[int, int]:
    """Batch size and accumulation the attempt used: retry overrides, then the
    cell's overrides, then its rendered config, then the YACS defaults (64, 1)."""
    values: dict[str, Any] = {BATCH_KEY: 64, ACCUM_KEY: 1}
    values.update(_from_config(cell.config_path))
    values.update({k: v for k, v in cell.overrides if k in values})
    values.update({k: v for k, v in overrides if k in values})
    return int(values[BATCH_KEY]), int(values[ACCUM_KEY])


def _from_config(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    found: dict[str, Any] = {}
    for key in (BATCH_KEY, ACCUM_KEY):
        section, name = key.split(".")
        value = (data.get(section) or {}).get(name) if isinstance(data, dict) else None
        if value is not None:
            found[key] = value
    return found
