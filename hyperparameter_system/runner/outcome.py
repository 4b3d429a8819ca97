"""Reading what an attempt achieved: status, metrics, history, error text.

The child's ``result.json`` is the truth when present; otherwise the exit code
(through ``child_contract.STATUS_BY_EXIT_CODE``) gives the status, and metrics come
from ``metrics.jsonl`` or, for a user's own command, from ``metric_patterns``
regexes over its output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import Status

ERROR_TAIL_LINES = 20


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
    result: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # from metric_patterns only
    wandb_run_dir: str | None = None


def status_from_exit(code: int | None) -> Status:
    """Exit code -> status; a signal death or an unknown code is a failure."""
    if code is None or code < 0:
        return Status.FAILED
    return cc.STATUS_BY_EXIT_CODE.get(code, Status.FAILED)


def read_outcome(output_dir: Path, log_path: Path, exit_code: int | None, *, metric: str, goal: str,
                 patterns: Sequence[tuple[str, str]] = (), forced: Status | None = None) -> Outcome:
    """Settle an ended attempt from its files.

    Args:
        forced: A status the runner imposes (``timeout`` after killing it); a
            result file cannot overrule it, but its metrics are still kept.
    """
    result = cc.read_result(output_dir / cc.RESULT_FILE)
    status = _status(result, exit_code, forced)
    out = Outcome(status=status, exit_code=exit_code, metric=metric, result=result)
    if result is not None:
        _from_result(out, result)
    elif patterns:
        _from_patterns(out, _read_text(log_path), patterns, goal)
    if out.best_metric is None and result is None:
        _from_history(out, cc.read_metrics(output_dir / cc.METRICS_FILE), goal)
    if not status.finished_ok:
        error = (result or {}).get("error")
        tail = "\n".join(_read_text(log_path).splitlines()[-ERROR_TAIL_LINES:])
        out.error_tail = "\n".join(part for part in (error, tail) if part) or None
    return out


def _status(result: dict[str, Any] | None, exit_code: int | None, forced: Status | None) -> Status:
    if forced is not None:
        return forced
    if result is not None:
        try:
            return Status(result.get("status"))
        except ValueError:
            pass
    return status_from_exit(exit_code)


def _from_result(out: Outcome, result: dict[str, Any]) -> None:
    out.metric = result.get("metric") or out.metric
    out.best_metric = _finite(result.get("best_metric"))
    out.best_epoch = result.get("best_epoch")
    out.epochs_run = result.get("epochs_run")
    out.final_metric = _finite((result.get("final_metrics") or {}).get(out.metric))
    out.wandb_run_dir = result.get("wandb_run_dir")


def _from_history(out: Outcome, records: list[dict[str, Any]], goal: str) -> None:
    scored = [(r, _finite(r.get(out.metric))) for r in records]
    scored = [(r, v) for r, v in scored if v is not None]
    if not scored:
        return
    pick = max if goal == "maximize" else min
    best_record, best = pick(scored, key=lambda item: item[1])
    out.best_metric, out.best_epoch = best, best_record.get("epoch")
    out.final_metric = scored[-1][1]
    out.epochs_run = max((int(r.get("epoch") or 0) for r in records), default=0) or len(records)


def _from_patterns(out: Outcome, text: str, patterns: Sequence[tuple[str, str]], goal: str) -> None:
    """Each match of a pattern is one evaluation; the i-th matches form epoch i+1."""
    matches = parse_metric_patterns(text, patterns)
    names = [name for name, _ in patterns]
    if out.metric not in matches:
        out.metric = names[0]
    rounds = max((len(values) for values in matches.values()), default=0)
    history = []
    for i in range(rounds):
        record: dict[str, Any] = {"epoch": i + 1}
        record.update({name: values[i] for name, values in matches.items() if i < len(values)})
        history.append(record)
    out.history = history
    _from_history(out, history, goal)


def parse_metric_patterns(text: str, patterns: Sequence[tuple[str, str]]) -> dict[str, list[float]]:
    """All values of every pattern (its first group as a float), in order of appearance."""
    return {name: [float(m.group(1)) for m in re.finditer(regex, text, flags=re.MULTILINE)]
            for name, regex in patterns}


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
