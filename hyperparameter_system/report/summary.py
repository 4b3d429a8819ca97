"""Judge cells: metric, delta vs the model's baseline, winners, status counts, compute.

Goal-aware throughout: "best" means highest for a maximized metric and lowest
for a minimized one. Only repeats that finished well (completed or
early-terminated) count: a row competes with the mean of those (``n`` of them)
as soon as one has finished, so a half-trained run never wins the table, and a
matrix stopped part-way still names the best of what finished. A row none of
whose repeats finished shows its best value so far and does not compete.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Iterable, Sequence

import hyperparameter_system.report.stats as stats
from hyperparameter_system.matrix.cell import BASELINE
from hyperparameter_system.child_contract import Status
from hyperparameter_system.errors import HpsysError, did_you_mean
from hyperparameter_system.report.links import runs_user_command
from hyperparameter_system.report.records import (
    INTERRUPTED,
    AttemptRecord,
    CellRecord,
    CellSummary,
    ExperimentSummary,
    ModelSummary,
)

better = stats.better  # "better under the goal" is decided in stats, one place

# Statuses of a run that ended on its own terms: only these can win, and only
# these "saved" the epochs they did not run.
FINISHED = frozenset({Status.COMPLETED.value, Status.EARLY_TERMINATED.value})


def require_known(flag: str, kind: str, names: Iterable[str], known: Sequence[str],
                  experiment: str) -> None:
    """Refuse a name the store has no cells of: a typo must not pass for "no results".

    Raises:
        HpsysError: naming ``flag``, the name and the known ones.
    """
    for name in names:
        if name not in known:
            raise HpsysError(f"{flag}: no results for {kind} '{name}' in experiment "
                             f"{experiment} (known: {', '.join(known) or 'none'})"
                             f"{did_you_mean(name, known)}")


def build_summary(
    cells: Sequence[CellRecord],
    *,
    experiment: str,
    metric: str,
    goal: str,
    store_path: str = "",
    now: float | None = None,
    wandb_entity: str = "",
) -> ExperimentSummary:
    """Turn the store's cells into the summary every output format renders.

    Args:
        cells: Every cell of the experiment with its attempts.
        experiment: Experiment name.
        metric: The experiment metric, e.g. ``val/acc``.
        goal: ``maximize`` or ``minimize``.
        store_path: Where the cells came from (shown in reports).
        now: POSIX time used for the duration of running attempts.
        wandb_entity: W&B entity, to build run URLs of online runs.
    """
    now = time.time() if now is None else now
    by_model: dict[str, list[CellRecord]] = {}
    for record in cells:
        by_model.setdefault(record.cell.model, []).append(record)
    models = tuple(
        _model_summary(name, records, metric, goal, now) for name, records in by_model.items()
    )
    counts: Counter[str] = Counter()
    for model in models:
        counts.update(model.status_counts)
    return ExperimentSummary(
        experiment=experiment,
        metric=metric,
        goal=goal,
        store_path=store_path,
        generated_at=now,
        models=models,
        status_counts=dict(sorted(counts.items())),
        compute_s=sum(c.compute_s for m in models for c in m.cells),
        saved_s=sum(c.saved_s for m in models for c in m.cells),
        wandb_entity=wandb_entity,
        shared_saved_s=sum(m.shared_saved_s for m in models),
    )


def _model_summary(
    model: str, records: list[CellRecord], metric: str, goal: str, now: float
) -> ModelSummary:
    """Judge one model's cells, one row per option over its repeats; baseline first."""
    records = sorted(records, key=lambda r: (r.cell.category != BASELINE, r.cell.category, r.cell.option_label,
                                             r.cell.repeat))
    by_id = {r.cell.cell_id: r for r in records}
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        target = by_id.get(record.cell.same_as) if record.cell.same_as else None
        groups.setdefault(_row_key(record), []).append(_judge(record, metric, goal, now, target))
    base_values = next((_values(g) for key, g in groups.items() if key[0] == BASELINE), [])
    rows = [_row(group, base_values, goal) for group in groups.values()]
    leaders = _leaders(rows, goal)
    best_row = _best_row(rows, goal)
    summaries = tuple(
        CellSummary(**row, is_best_in_category=leaders.get(row["record"].cell.category) is row,
                    is_best_of_model=best_row is row)
        for row in rows
    )
    by_cell = {s.cell_id: s for s in summaries}
    baseline = next((s for s in summaries if s.category == BASELINE), None)
    return ModelSummary(
        model=model,
        project=records[0].cell.project if records else "",
        cells=summaries,
        baseline=baseline,
        best=by_cell[best_row["record"].cell.cell_id] if best_row else None,
        best_by_category={cat: by_cell[row["record"].cell.cell_id] for cat, row in leaders.items()},
        status_counts=dict(sorted(Counter(r.status for s in summaries for r in s.repeats).items())),
        shared_saved_s=sum(s.shared_saved_s for s in summaries),
    )


def _row_key(record: CellRecord) -> tuple:
    """The repeats of one option share a row; each sweep trial is a row of its own."""
    sweep = getattr(record, "sweep", None)
    trial = (sweep.sweep_id, sweep.trial) if sweep is not None else ()
    return (record.cell.category, record.cell.option_label, *trial)


def _values(cells: list[dict]) -> list[float]:
    """The best values of the repeats that finished well: the sample the test sees."""
    return [c["metric"] for c in cells if c["status"] in FINISHED and c["metric"] is not None]


def _row(cells: list[dict], base_values: list[float], goal: str) -> dict:
    """One row over an option's repeats: mean, spread and the comparison with the baseline."""
    first = cells[0]
    values = _values(cells)
    so_far = [c["metric"] for c in cells if c["metric"] is not None]
    value = stats.mean(values) if values else stats.mean(so_far)
    base_mean = stats.mean(base_values)
    is_baseline = first["record"].cell.category == BASELINE
    test = stats.Comparison(delta=None) if is_baseline else stats.compare(values, base_values, goal)
    # A row is as far as its least advanced repeat: it competes only once all finished well.
    status = next((c["status"] for c in cells if c["status"] not in FINISHED), first["status"])
    return dict(
        first, status=status, metric=value, n=len(values), metric_std=stats.std(values),
        delta=_minus(value, base_mean),
        ci95=test.ci95, p_value=test.p_value, significant=test.significant,
        compute_s=sum(c["compute_s"] for c in cells), saved_s=sum(c["saved_s"] for c in cells),
        shared_saved_s=sum(c["shared_saved_s"] for c in cells),
        repeats=tuple(CellSummary(**c, n=len(_values([c])), delta=_minus(c["metric"], base_mean))
                      for c in cells),
    )


def _minus(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _leaders(rows: list[dict], goal: str) -> dict[str, dict]:
    """The best finished row of each category (the baseline is not a category)."""
    leaders: dict[str, dict] = {}
    for category in dict.fromkeys(r["record"].cell.category for r in rows):
        if category == BASELINE:
            continue
        best = _best_row([r for r in rows if r["record"].cell.category == category], goal)
        if best is not None:
            leaders[category] = best
    return leaders


def _best_row(rows: list[dict], goal: str) -> dict | None:
    """The first row with the best mean among rows with a repeat that finished well (n >= 1)."""
    best: dict | None = None
    for row in rows:
        if row["n"] < 1 or row["metric"] is None:
            continue
        if best is None or better(row["metric"], best["metric"], goal):
            best = row
    return best


def _judge(record: CellRecord, metric: str, goal: str, now: float,
           target: CellRecord | None = None) -> dict:
    """The numbers of one cell, read from its newest attempt.

    A cell sharing another's training (``same_as``) shows its target's numbers,
    spends nothing, and counts the target's run time as compute saved.
    """
    shared = {"same_as": "", "shared_saved_s": 0.0}
    if target is not None:
        shared["same_as"] = target.cell.option_label if target.cell.category != BASELINE else BASELINE
        done = target.latest
        if done is not None and done.status in FINISHED:
            shared["shared_saved_s"] = _duration(done, now) or 0.0
        judged = _judge(target, metric, goal, now)  # its numbers; the row stays this cell's record
        return dict(judged, record=record, compute_s=0.0, saved_s=0.0, **shared)
    latest = record.latest
    if latest is None:
        return dict(record=record, status=Status.PENDING.value, metric=None, best_epoch=None,
                    epochs_run=None, max_epochs=record.max_epochs_run, duration_s=None,
                    compute_s=0.0, saved_s=0.0, **shared)
    value, epoch = latest.best_metric, latest.best_epoch
    if value is None or (latest.metric and latest.metric != metric):
        # Still running, or run for another metric than the one asked about now.
        value, epoch = _best_in_history(latest, metric, goal)
    epochs_run = latest.epochs_run if latest.epochs_run is not None else (
        len(latest.history) or None)
    return dict(
        record=record,
        status=latest.status,
        metric=value,
        best_epoch=epoch,
        epochs_run=epochs_run,
        max_epochs=record.max_epochs_run,
        duration_s=_duration(latest, now),
        compute_s=sum(_duration(a, now) or 0.0 for a in record.attempts),
        saved_s=_saved_seconds(latest, epochs_run, record.max_epochs_run),
        **shared,
    )


def _best_in_history(attempt: AttemptRecord, metric: str, goal: str) -> tuple[float | None, int | None]:
    """Best value so far from the per-epoch history (a running or killed attempt)."""
    best: tuple[float | None, int | None] = (None, None)
    for point in attempt.history:
        value = point.metrics.get(metric)
        if value is None:
            continue
        if best[0] is None or better(float(value), best[0], goal):
            best = (float(value), point.epoch)
    return best


def _duration(attempt: AttemptRecord, now: float) -> float | None:
    """Recorded duration, or the time so far for an attempt still running."""
    if attempt.duration_s is not None:
        return attempt.duration_s
    if attempt.status == INTERRUPTED:  # its runner died: the clock stopped at the last report
        last = attempt.history[-1].metrics.get("elapsed_s") if attempt.history else None
        return float(last) if last is not None else None
    if attempt.started_at is None:
        return None
    end = attempt.ended_at if attempt.ended_at is not None else now
    return max(0.0, end - attempt.started_at)


def planned_repeats(cell: CellSummary) -> int:
    """How many trainings the plan has for a row's option, from its cells' ``repeat`` fields.

    Not how many finished: a matrix stopped part-way planned as many as it
    will train when resumed.
    """
    return max((r.record.cell.repeat for r in cell.repeats or (cell,)), default=0) + 1


def _saved_seconds(attempt: AttemptRecord, epochs_run: int | None, max_epochs: int | None) -> float:
    """Cell-seconds not spent because the run stopped before SOLVER.MAX_EPOCHS.

    Only a run that really stopped early counts: the built-in trainer, whose
    own report (result.json) says it ran fewer epochs than SOLVER.MAX_EPOCHS,
    or a run the runner ended early (``early_terminated``). A user's command
    never reads SOLVER.MAX_EPOCHS, and its "epochs" are the evaluations its
    output showed, so nothing is claimed for it.

    Seconds per epoch come from the child's own clock (``elapsed_s`` of the last
    evaluation) when present, so process start-up is not counted as training;
    otherwise from the attempt's wall time.
    """
    if attempt.status not in FINISHED or not epochs_run or not max_epochs or epochs_run >= max_epochs:
        return 0.0
    if runs_user_command(attempt):
        return 0.0
    elapsed = attempt.history[-1].metrics.get("elapsed_s") if attempt.history else None
    total = float(elapsed) if elapsed else attempt.duration_s
    if not total:
        return 0.0
    return (max_epochs - epochs_run) * total / epochs_run
