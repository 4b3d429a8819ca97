"""Reading what an attempt achieved: status, metrics, history, error text.

The child's ``result.json`` is the truth when present (checked by
``child_contract.read_result``: a broken one fails the attempt); otherwise the
exit code (through ``child_contract.STATUS_BY_EXIT_CODE``) gives the status, and
metrics come from ``metrics.jsonl`` or, for a user's own command whose wrapper
died before writing them, from ``metric_patterns`` over its output. The error
text starts with the one line that says what went wrong.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import ChildResult, Status
from hyperparameter_system.child_output import LINE_CHARS, last_meaningful_line, parse_metric_lines, signal_death
from hyperparameter_system.config.goal import Goal

ERROR_TAIL_LINES = 20
ERROR_TAIL_BYTES = 1 << 18  # the end of a log, where the error is
LOG_READ_BYTES = 1 << 28  # metric_patterns over a log read whole: a bound, not a size any log reaches


@dataclass
class Outcome:
    """What the store records when an attempt ends."""

    status: Status
    exit_code: int | None
    metric: str
    best_metric: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    final_metric: float | None = None
    error_tail: str | None = None
    result: ChildResult | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # from metric_patterns only
    wandb_run_dir: str | None = None
    problem: str | None = None  # a child file that broke the contract (the attempt failed for it)


def status_from_exit(code: int | None) -> Status:
    """Exit code -> status; a signal death or an unknown code is a failure."""
    if code is None or code < 0:
        return Status.FAILED
    return cc.STATUS_BY_EXIT_CODE.get(code, Status.FAILED)


def read_outcome(output_dir: Path, log_path: Path, exit_code: int | None, *, metric: str, goal: str,
                 patterns: Sequence[tuple[str, str]] = (), forced: Status | None = None) -> Outcome:
    """Settle an ended attempt from its files.

    A result.json or metrics.jsonl that breaks the contract fails the attempt
    with a reason naming the file; the other cells, and later resumes, go on.

    Args:
        forced: A status the runner imposes (``timeout`` after killing it); a
            result file cannot overrule it, but its metrics are still kept.
    """
    result, problem = _read_result(output_dir / cc.RESULT_FILE)
    metrics = cc.read_metrics(output_dir / cc.METRICS_FILE)
    problem = problem or metrics.problem
    status = forced or (Status.FAILED if problem else result.status if result else status_from_exit(exit_code))
    nonfinite = (result.nonfinite if result else None) or cc.nonfinite_in(metrics.records)
    if not (status.finished_ok and not forced and nonfinite):
        nonfinite = None
    status = Status.NONFINITE if nonfinite else status  # the README's rule, as for a command's parsed metrics
    out = Outcome(status=status, exit_code=exit_code, metric=metric, result=result, problem=problem)
    if result is not None:
        _from_result(out, result)
    elif patterns and not metrics.records:
        _from_patterns(out, _read_lines(log_path), patterns, goal)
    if out.best_metric is None and result is None:
        _from_history(out, metrics.records, goal)
    if not status.finished_ok:
        lines = _read_lines(log_path, tail_bytes=ERROR_TAIL_BYTES)
        headline = (problem or nonfinite or (result.error if result else None) or signal_death(exit_code)
                    or last_meaningful_line(lines)
                    or ("stopped by SIGTERM" if status == Status.STOPPED else f"exited with code {exit_code}"))
        out.error_tail = "\n".join([headline, *(line[:LINE_CHARS] for line in lines[-ERROR_TAIL_LINES:])])
    return out


def _read_result(path: Path) -> tuple[ChildResult | None, str | None]:
    try:
        return cc.read_result(path), None
    except cc.ChildFileError as error:
        return None, str(error)


def _from_result(out: Outcome, result: ChildResult) -> None:
    out.metric = result.metric or out.metric
    out.best_metric = result.best_metric
    out.best_epoch = result.best_epoch
    out.epochs_run = result.epochs_run
    out.final_metric = result.final_metrics.get(out.metric)
    out.wandb_run_dir = result.wandb_run_dir


def _from_history(out: Outcome, records: list[dict[str, Any]], goal: str) -> None:
    scored = [(r, _finite(r.get(out.metric))) for r in records]
    scored = [(r, v) for r, v in scored if v is not None]
    if not scored:
        return
    best_record, best = Goal(goal).best(scored, key=lambda item: item[1])
    out.best_metric, out.best_epoch = best, best_record.get("epoch")
    out.final_metric = scored[-1][1]
    out.epochs_run = max((int(r.get("epoch") or 0) for r in records), default=0) or len(records)


def _from_patterns(out: Outcome, lines: list[str], patterns: Sequence[tuple[str, str]], goal: str) -> None:
    """Each evaluation the patterns find in the log is one epoch (a wrapper that died early)."""
    history = parse_metric_lines(lines, patterns)
    if not any(out.metric in record for record in history):
        out.metric = patterns[0][0]
    out.history = history
    _from_history(out, history, goal)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_lines(path: Path, tail_bytes: int | None = None) -> list[str]:
    """The log's lines (only those in its last ``tail_bytes`` when given: logs can be huge).

    The child can replace its log with anything (a FIFO, a link to ``/dev/zero``):
    it is read through the same guarded reader as its result files, and at most
    :data:`LOG_READ_BYTES` of it.
    """
    try:
        data = cc.read_child_file(path, tail_bytes or LOG_READ_BYTES, tail=tail_bytes is not None)
    except cc.ChildFileError:
        return []
    return (data or b"").decode("utf-8", "replace").splitlines()
