"""The retry policy: what to do after an attempt ends unsuccessfully.

- ``failed`` with exit code 2 (``EXIT_CONFIG``: the child refused its config
  or command line): final; the same config is refused again every time.
- ``failed`` (a crash): try again, up to ``retries`` extra attempts, waiting
  ``backoff_s * 2**k`` before each, because crashes are often transient (a full
  disk, a flaky data mount, a busy GPU).
- ``oom``: try again with half the batch size and twice the gradient
  accumulation (the same effective batch), until ``min_batch_size``. The keys
  and the planned values come from the cell (``Cell.batch_key`` ...): for a
  model with its own schema they are the script's names, through its key_map;
  where the planner found no way to halve (a key mapped to null), the
  decision is final and says why.
- ``nonfinite``, ``timeout``, ``stopped``: final; repeating would diverge, hang or
  ignore the user's Ctrl-C again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import EXIT_CONFIG, Status


@dataclass(frozen=True)
class RetryPlan:
    """The next attempt: its extra YACS overrides and how long to wait first.

    ``final`` marks a decision not to retry that has something to say
    (``reason``); a plain final decision is None.
    """

    overrides: tuple[tuple[str, Any], ...]
    delay_s: float
    reason: str
    final: bool = False


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
        if not cell.batch_key:
            return RetryPlan((), 0.0, f"out of memory, not retried: {cell.batch_note or 'no batch key planned'}",
                             final=True)
        batch, accum = current_batch(cell, overrides)
        if batch <= self.min_batch_size:
            return None
        new_batch = max(self.min_batch_size, batch // 2)
        new_accum = max(1, round(accum * batch / new_batch))
        plan = ((cell.batch_key, new_batch), (cell.accum_key, new_accum))
        return RetryPlan(plan, 0.0, f"out of memory at {cell.batch_key} {batch}: {cell.batch_key} {new_batch} x "
                                    f"{cell.accum_key} {new_accum}")


def current_batch(cell: Cell, overrides: Sequence[tuple[str, Any]]) -> tuple[int, int]:
    """Batch size and accumulation the attempt used: its retry overrides, else the planned values."""
    values = dict(overrides)
    return int(values.get(cell.batch_key, cell.batch_size)), int(values.get(cell.accum_key, cell.grad_accum))
