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
from pathlib import Path
from typing import Any, Mapping, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import ChildResult, Status
from hyperparameter_system.files.child_output import LINE_CHARS, last_meaningful_line, parse_metric_lines, signal_death
from hyperparameter_system.config.goal import Goal
from hyperparameter_system.store import AttemptRecord, EpochPoint

ERROR_TAIL_LINES = 20
ERROR_TAIL_BYTES = 1 << 18  # the end of a log, where the error is
LOG_READ_BYTES = 1 << 28  # metric_patterns over a log read whole: a bound, not a size any log reaches


def status_from_exit(code: int | None) -> Status:
    """Exit code -> status; a signal death or an unknown code is a failure."""
    if code is None or code < 0:
        return Status.FAILED
    return cc.STATUS_BY_EXIT_CODE.get(code, Status.FAILED)


def read_outcome(output_dir: Path, log_path: Path, exit_code: int | None, *, metric: str, goal: str,
                 patterns: Sequence[tuple[str, str]] = (), forced: Status | None = None,
                 attempt: int = 0) -> AttemptRecord:
    """Settle an ended attempt from its files: the outcome fields of its record.

    A result.json or metrics.jsonl that breaks the contract fails the attempt
    with a reason naming the file; the other cells, and later resumes, go on.
    ``history`` holds the evaluations ``patterns`` found in the log (the only
    ones the store has not copied from metrics.jsonl already).

    Args:
        forced: A status the runner imposes (``timeout`` after killing it); a
            result file cannot overrule it, but its metrics are still kept.
        attempt: The attempt's number, carried into the record.
    """
    result, problem = _read_result(output_dir / cc.RESULT_FILE)
    metrics = cc.read_metrics(output_dir / cc.METRICS_FILE)
    problem = problem or metrics.problem
    status = forced or (Status.FAILED if problem else result.status if result else status_from_exit(exit_code))
    nonfinite = (result.nonfinite if result else None) or cc.nonfinite_in(metrics.records)
    if not (status.finished_ok and not forced and nonfinite):
        nonfinite = None
    status = Status.NONFINITE if nonfinite else status  # the README's rule, as for a command's parsed metrics
    out: dict[str, Any] = {"metric": metric}
    if result is not None:
        out.update(_from_result(metric, result))
    elif patterns and not metrics.records:
        out.update(_from_patterns(metric, _read_lines(log_path), patterns, goal))
    if out.get("best_metric") is None and result is None:
        out.update(_from_history(out["metric"], metrics.records, goal))
    if not status.finished_ok:
        lines = _read_lines(log_path, tail_bytes=ERROR_TAIL_BYTES)
        headline = (problem or nonfinite or (result.error if result else None) or signal_death(exit_code)
                    or last_meaningful_line(lines)
                    or ("stopped by SIGTERM" if status == Status.STOPPED else f"exited with code {exit_code}"))
        out["error_tail"] = "\n".join([headline, *(line[:LINE_CHARS] for line in lines[-ERROR_TAIL_LINES:])])
    return AttemptRecord(attempt=attempt, status=status, exit_code=exit_code, problem=problem,
                         result=result.to_dict() if result else None, **out)


def _read_result(path: Path) -> tuple[ChildResult | None, str | None]:
    try:
        return cc.read_result(path), None
    except cc.ChildFileError as error:
        return None, str(error)


def _from_result(metric: str, result: ChildResult) -> dict[str, Any]:
    metric = result.metric or metric
    return {"metric": metric, "best_metric": result.best_metric, "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "final_metric": result.final_metrics.get(metric),
            "wandb_run_dir": result.wandb_run_dir}


def _from_history(metric: str, records: Sequence[Mapping[str, Any]], goal: str) -> dict[str, Any]:
    scored = [(r, _finite(r.get(metric))) for r in records]
    scored = [(r, v) for r, v in scored if v is not None]
    if not scored:
        return {}
    best_record, best = Goal(goal).best(scored, key=lambda item: item[1])
    return {"best_metric": best, "best_epoch": best_record.get("epoch"), "final_metric": scored[-1][1],
            "epochs_run": max((int(r.get("epoch") or 0) for r in records), default=0) or len(records)}


def _from_patterns(metric: str, lines: list[str], patterns: Sequence[tuple[str, str]], goal: str) -> dict[str, Any]:
    """Each evaluation the patterns find in the log is one epoch (a wrapper that died early)."""
    history = parse_metric_lines(lines, patterns)
    if not any(metric in record for record in history):
        metric = patterns[0][0]
    # The parser numbers every evaluation it completes (``epoch``, 1..).
    points = tuple(EpochPoint(int(r["epoch"]), {k: v for k, v in r.items() if k != "epoch"}) for r in history)
    return {"metric": metric, "history": points, **_from_history(metric, history, goal)}


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
