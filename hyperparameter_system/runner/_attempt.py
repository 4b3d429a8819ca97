"""One attempt from launch to its row in the store.

:class:`ActiveAttempt` owns a running child: it copies new ``metrics.jsonl``
lines into the store while the child runs (the summary and the sweep engine
see live progress), enforces the timeout, and writes the outcome in one
transaction when the child ends. :func:`settle_stale` finishes attempts a dead
runner left ``running``, stopping their orphaned children first.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping, Sequence, Union

from hyperparameter_system import child_contract as cc
from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import Status
from hyperparameter_system.runner._child import CHILD_LOG, ChildSpec
from hyperparameter_system.runner._devices import Slot
from hyperparameter_system.runner._disk import with_disk_full
from hyperparameter_system.runner._outcome import read_outcome
from hyperparameter_system.runner._process import ChildProcess, stop_orphans

if TYPE_CHECKING:
    from hyperparameter_system.runner.cluster import RayChild

Child = Union[ChildProcess, "RayChild"]  # a child here, or on a Ray node
from hyperparameter_system.store import HOST, AttemptRecord, Store
from hyperparameter_system.store.attempt_file import add_outcome, write_attempt_file
from hyperparameter_system.store.launch_env import numbers_env, record_launch


@dataclass
class ActiveAttempt:
    """A launched attempt and what the runner knows about it so far."""

    cell: Cell
    attempt: AttemptRecord
    slot: Slot
    spec: ChildSpec
    proc: Child
    overrides: tuple[tuple[str, Any], ...] = ()
    crashes: int = 0  # failed attempts of this cell before this one, in this run
    forced: Status | None = None  # a status the runner imposes (timeout, early_terminated)
    records: list[dict[str, Any]] = field(default_factory=list)
    metrics_read: tuple[int, int] = (0, 0)  # metrics.jsonl's byte offset and line count read so far
    node: str | None = None  # where the child runs, as recorded (a Ray node is known once it started)

    def note_node(self, store: Store) -> None:
        """Record the node once the child's place is known (a Ray node answers after it started the child)."""
        if self.proc.node and self.proc.node != self.node:
            self.node = self.proc.node
            store.update_attempt(self.attempt.id, node=self.node)

    def follow_metrics(self, store: Store) -> list[dict[str, Any]]:
        """Copy metrics lines written since the last call into the store; returns them.

        Reads on from where the last call stopped: a long run's file is never read whole each tick.
        """
        end, lines = self.metrics_read
        log = cc.read_metrics(self.spec.output_dir / cc.METRICS_FILE, start=end, lines=lines)
        self.metrics_read = (log.end, log.lines)
        new = log.records
        if new:
            store.add_epochs(self.attempt.id, new, start_seq=len(self.records))
            self.records = self.records + new
        return new

    def check_timeout(self, timeout_s: float) -> None:
        if timeout_s > 0 and self.forced is None and self.proc.elapsed > timeout_s:
            self.forced = Status.TIMEOUT
            self.proc.terminate()

    def stop(self, forced: Status | None = None) -> None:
        """Ask the child to stop; ``forced`` overrules what the child reports."""
        if forced is not None and self.forced is None:
            self.forced = forced
        self.proc.terminate()


def launch(store: Store, cell: Cell, attempt: AttemptRecord, slot: Slot, spec: ChildSpec,
           overrides: tuple[tuple[str, Any], ...], crashes: int,
           start_child: Callable[[ChildSpec], Child] = ChildProcess) -> ActiveAttempt | AttemptRecord:
    """Start the child of a claimed attempt through ``start_child`` (by default cold, here; the
    lifecycle passes a warm start or a Ray node); an unstartable command is a failed attempt
    (its settled record is returned)."""
    # What a reproduce command needs besides the argv is taken once: the store's launch_env
    # row (the report reads it) and attempt.json (a rebuild restores that row from it).
    env = numbers_env(spec.env, (name for name, _ in cell.env))
    attempt = dataclasses.replace(attempt, command=tuple(spec.argv), log_path=str(spec.log_path),
                                  wandb_run_id=spec.wandb_run_id, output_dir=str(spec.output_dir),
                                  env=tuple(sorted(env.items())), cwd=spec.cwd or os.getcwd())
    store.update_attempt(attempt.id, command=spec.argv, log_path=attempt.log_path,
                         wandb_run_id=attempt.wandb_run_id, output_dir=attempt.output_dir)
    record_launch(store, attempt.id, env, attempt.cwd)
    try:
        # The folder's own record of its cell and try: what rebuilds a lost store.
        write_attempt_file(spec.output_dir, dataclasses.asdict(cell), attempt, store.created_at.isoformat())
        proc = start_child(spec)
    except OSError as error:
        out = settle_unstarted(store, attempt, Status.FAILED,
                               f"cannot start {spec.argv[0]!r}: {error.strerror or error}")
        add_outcome(store, attempt.id, spec.output_dir)
        return out
    store.update_attempt(attempt.id, child_pid=proc.pid, node=proc.node)
    return ActiveAttempt(cell, attempt, slot, spec, proc, overrides, crashes, node=proc.node)


def settle_unstarted(store: Store, attempt: AttemptRecord, status: Status, why: str) -> AttemptRecord:
    """End a claimed attempt whose child never started; its settled record."""
    out = AttemptRecord(attempt=attempt.attempt, status=status, metric="", error_tail=why)
    store.finish_attempt(attempt.id, out.status, error_tail=out.error_tail)
    return out


def finish(store: Store, active: ActiveAttempt, exit_code: int, *, metric: str, goal: str,
           stopping: bool) -> AttemptRecord:
    """Read the ended child's files and record the outcome in one transaction."""
    active.proc.reap_group()
    active.follow_metrics(store)
    if active.proc.timed_out and active.forced is None:  # the node stopped it at the timeout
        active.forced = Status.TIMEOUT
    if active.proc.lost and active.forced is None:  # whatever it wrote as it was stopped, it crashed
        active.forced = Status.FAILED
    out = read_outcome(active.spec.output_dir, active.spec.log_path, exit_code, metric=metric, goal=goal,
                       patterns=active.cell.metric_patterns, forced=active.forced, attempt=active.attempt.attempt)
    out = dataclasses.replace(out, wandb_run_dir=active.proc.local_path(out.wandb_run_dir))
    if stopping and out.result is None and out.problem is None and out.status == Status.FAILED:
        out = dataclasses.replace(out, status=Status.STOPPED)  # killed by our own shutdown, not a crash
    if not Status(out.status).finished_ok:  # a child on a full disk often cannot log why it died
        out = dataclasses.replace(out, error_tail=with_disk_full(out.error_tail, active.spec.output_dir))
    if out.history:
        store.add_epochs(active.attempt.id, [point.as_line() for point in out.history])
    record_outcome(store, active.attempt.id, out)
    add_outcome(store, active.attempt.id, active.spec.output_dir)
    return out


def record_outcome(store: Store, attempt_id: int, out: AttemptRecord, **extra: Any) -> bool:
    """Write an outcome into an attempt row (guarded: only while it is running)."""
    return store.finish_attempt(
        attempt_id, out.status, **extra, exit_code=out.exit_code, metric=out.metric, best_metric=out.best_metric,
        best_epoch=out.best_epoch, epochs_run=out.epochs_run, error_tail=out.error_tail, result=out.result,
        wandb_run_dir=out.wandb_run_dir)


def settle_stale(store: Store, *, metric: str, goal: str, grace_s: float,
                 patterns_for: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                 stop_elsewhere: Callable[[Collection[str], float], set[str]] | None = None,
                 ) -> list[tuple[AttemptRecord, AttemptRecord]]:
    """Finish every attempt a dead runner left running.

    Orphaned children on this host are stopped first, all within one grace
    period (so a cell never runs twice at once); then a result the child managed
    to write is adopted. A user's command that had already ended on its own is
    read through its cell's ``metric_patterns`` (``patterns_for``: cell id ->
    patterns) and counts as completed when its log holds the metric; anything
    else becomes ``stopped`` so a resume runs it again. ``stop_elsewhere`` does
    the same on other machines (every node of a Ray cluster).
    """
    settled = []
    stale = store.stale_attempts()
    local = [a for a in stale if a.output_dir and a.runner_host == HOST]
    still_running = stop_orphans({a.output_dir for a in local if a.output_dir}, grace_s)
    if stop_elsewhere is not None:
        still_running |= stop_elsewhere({a.output_dir for a in stale if a.output_dir}, grace_s)
    ended = {a.id for a in local if a.output_dir not in still_running}
    for attempt in stale:
        out_dir = Path(attempt.output_dir or "/nonexistent")
        log = Path(attempt.log_path) if attempt.log_path else out_dir / CHILD_LOG
        patterns = (patterns_for or {}).get(attempt.cell_id, ()) if attempt.id in ended else ()
        out = read_outcome(out_dir, log, None, metric=metric, goal=goal, patterns=patterns, attempt=attempt.attempt)
        if out.result is None and patterns and out.best_metric is not None:
            # It ended on its own and printed its metric.
            out = dataclasses.replace(out, status=Status.COMPLETED, error_tail=None)
        elif out.result is None and out.problem is None:
            out = dataclasses.replace(out, status=Status.STOPPED, error_tail="runner died while this attempt ran")
        if out.history:
            store.add_epochs(attempt.id, [point.as_line() for point in out.history])
        store.add_epochs(attempt.id, cc.read_metrics(out_dir / cc.METRICS_FILE).records)
        extra = {}
        if out.result and out.result.get("duration_s") is not None:
            extra["duration_s"] = out.result["duration_s"]  # not the time until this resume
        if record_outcome(store, attempt.id, out, **extra):
            add_outcome(store, attempt.id, attempt.output_dir)
            settled.append((attempt, out))
    return settled
