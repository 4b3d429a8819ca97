"""One attempt lifecycle: claim, launch, follow, renew the lease, time out, stop, settle.

A matrix run (the scheduler), a local sweep (the scheduler fed trials) and a
W&B agent's trial (``sweeps/cloud.py``) all run their children through one
:class:`Lifecycle`, so each of them copies live metrics into the store, kills a
child past its timeout or grace, keeps its leases fresh (another runner, or the
summary, never takes a long attempt for one whose runner died) and records the
outcome the same way. The scheduler adds only what is its own: slots, retries,
progress and signals.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import Status
from hyperparameter_system.runner._attempt import ActiveAttempt, Child, finish, launch, settle_stale, settle_unstarted
from hyperparameter_system.runner._child import ChildSpec, attempt_dir, child_spec
from hyperparameter_system.runner._devices import Slot
from hyperparameter_system.runner._options import RunOptions, StopRule
from hyperparameter_system.runner._process import ChildProcess
from hyperparameter_system.runner.warm import ForkServer

if TYPE_CHECKING:
    from hyperparameter_system.runner.cluster import AgentPool
from hyperparameter_system.store import AttemptRecord, Store

Ended = tuple[ActiveAttempt, AttemptRecord]  # an attempt whose child ended, and what was recorded for it


class Lifecycle:
    """The attempts one runner session has claimed, from claim until their rows are settled.

    Attributes:
        active: Running attempts by slot index (one child per slot).
        session: This session's id: its claims and the leases it renews.
    """

    def __init__(self, store: Store, output_root: Path, options: RunOptions, *,
                 forks: ForkServer | None = None, agents: AgentPool | None = None,
                 stop_rule: StopRule | None = None) -> None:
        self.store, self.root, self.opt = store, Path(output_root), options
        self.forks, self.stop_rule = forks, stop_rule
        self.session = uuid.uuid4().hex
        self.active: dict[int, ActiveAttempt] = {}
        self._agents = agents  # idle Ray node agents, kept between cells (made at the first Ray cell if None)

        self._last_lease = self._last_metrics = 0.0
        if forks is not None:  # its start can outlast a short lease: the claims stay fresh meanwhile
            forks.while_waiting = self.keep_leases

    # -- claiming and launching -----------------------------------------------------------
    def claim(self, cell: Cell, *, rerun: str | None = None) -> AttemptRecord | None:
        """A new ``running`` attempt of ``cell`` under this session's lease; None when it is not to run."""
        return self.store.claim(cell.cell_id, session=self.session, rerun=rerun, lease_s=self.opt.lease_s,
                                output_dir_for=lambda n: str(attempt_dir(self.root, cell, n)))

    def claim_retry(self, cell: Cell, previous: AttemptRecord,
                    overrides: Sequence[tuple[str, Any]]) -> AttemptRecord | None:
        """The next attempt after ``previous``; None when another runner took the cell meanwhile."""
        return self.store.claim_retry(previous, overrides=[list(kv) for kv in overrides], lease_s=self.opt.lease_s,
                                      output_dir_for=lambda n: str(attempt_dir(self.root, cell, n)))

    def launch(self, cell: Cell, attempt: AttemptRecord, slot: Slot, *, wandb_mode: str,
               overrides: tuple[tuple[str, Any], ...] = (), crashes: int = 0,
               env: Mapping[str, str] | None = None) -> ActiveAttempt | AttemptRecord:
        """Start the child of a claimed attempt on ``slot``; an unstartable command is a settled failure.

        Args:
            env: Variables that win over the built ones (a W&B agent's run and sweep id).
        """
        if cell.command is None and self.forks is not None and self.opt.ray is None:
            if self.forks.start():
                attempt = dataclasses.replace(attempt, started_at=time.time())  # the server's imports are not the cell's
                self.store.update_attempt(attempt.id, started_at=attempt.started_at)
            elif self.forks.stopping():  # a stop came while the server imported: this child never starts
                return settle_unstarted(self.store, attempt, Status.STOPPED, "stopped before its child started")
        spec = child_spec(cell, attempt=attempt.attempt, slot=slot, output_root=self.root, wandb_mode=wandb_mode,
                          retry_overrides=overrides, extra_env=self.opt.child_env())
        if env:
            spec = dataclasses.replace(spec, env={**spec.env, **env},
                                       wandb_run_id=env.get("WANDB_RUN_ID", spec.wandb_run_id))
        started = launch(self.store, cell, attempt, slot, spec, overrides, crashes,
                         lambda ready: self._start_child(cell, ready, slot))
        if isinstance(started, ActiveAttempt):
            self.active[slot.index] = started
        return started

    def _start_child(self, cell: Cell, spec: ChildSpec, slot: Slot) -> Child:
        """The child here (warm through the fork server when it can), or on a Ray node."""
        if self.opt.ray is None:
            return ChildProcess(spec, self.forks)
        from hyperparameter_system.runner.cluster import AgentPool, RayChild

        self._agents = self._agents or AgentPool()
        return RayChild(spec, agents=self._agents, resources=self.opt.ray.for_model(cell.model), options=self.opt.ray,
                        timeout_s=self.opt.timeout_s, grace_s=self.opt.grace_s, config_path=cell.config_path,
                        threads=slot.torch_threads)

    # -- following ------------------------------------------------------------------------
    def follow(self) -> list[Ended]:
        """One poll: settle ended children, copy new metrics (and apply the stop rule), renew leases."""
        ended = self.reap()
        now = time.monotonic()
        if now - self._last_metrics >= self.opt.metrics_every_s:
            self._last_metrics = now
            for active in self.active.values():
                if active.follow_metrics(self.store) and self.stop_rule is not None \
                        and self.stop_rule(active.cell, active.attempt.id, active.records):
                    active.stop(Status.EARLY_TERMINATED)
        self.keep_leases()
        return ended

    def keep_leases(self) -> None:
        """Renew this session's leases once a quarter of a lease has passed since the last renewal.

        Called on every poll, and while the fork server starts or answers: a claim
        whose lease ran out meanwhile would look abandoned to another runner.
        """
        now = time.monotonic()
        if now - self._last_lease >= self.opt.lease_s / 4:
            self._last_lease = now
            self.store.renew_leases(self.session, self.opt.lease_s)

    def reap(self, *, stopping: bool = False) -> list[Ended]:
        """Time out, kill past the grace, and settle every child that ended.

        Args:
            stopping: The runner is shutting down: a child killed without a result is ``stopped``.
        """
        ended = []
        for index, active in list(self.active.items()):
            active.check_timeout(self.opt.timeout_s)
            active.proc.enforce_grace(self.opt.grace_s)
            code = active.proc.poll()
            active.note_node(self.store)
            if code is None:
                continue
            del self.active[index]
            active.proc.stop_leftovers(self.opt.grace_s)
            ended.append((active, finish(self.store, active, code, metric=self.opt.metric, goal=self.opt.goal,
                                         stopping=stopping)))
        return ended

    def wait(self, active: ActiveAttempt) -> AttemptRecord:
        """Follow until ``active`` ends; returns its settled outcome.

        An exception raised meanwhile (a W&B agent's thread is told the server
        stopped the run) stops the child as ``early_terminated``, settles it, and propagates.
        """
        try:
            while True:
                for attempt, out in self.follow():
                    if attempt is active:
                        return out
                time.sleep(self.opt.poll_s)
        except BaseException:
            active.stop(Status.EARLY_TERMINATED)
            while active in self.active.values():
                self.reap()
                time.sleep(0.05)
            raise

    def close(self) -> None:
        """Let the fork server and the idle Ray agents go (after the last attempt settled)."""
        if self.forks is not None:
            self.forks.close()
        if self._agents is not None:
            self._agents.close()

    # -- stopping and settling ------------------------------------------------------------
    def stop_all(self) -> None:
        """Ask every running child to stop (SIGTERM now, SIGKILL after the grace in :meth:`reap`)."""
        for active in self.active.values():
            active.stop()

    def no_more_grace(self) -> None:
        """A second Ctrl-C: the next :meth:`reap` kills every stopping child at once."""
        for active in self.active.values():
            active.proc.term_sent_at = 0.0

    def settle_stale(self, patterns_for: Mapping[str, Sequence[tuple[str, str]]],
                     ) -> list[tuple[AttemptRecord, AttemptRecord]]:
        """Finish the attempts dead runners left ``running`` (see :func:`_attempt.settle_stale`)."""
        stop_elsewhere = None
        if self.opt.ray is not None:
            from hyperparameter_system.runner.cluster import stop_remote_orphans as stop_elsewhere
        return settle_stale(self.store, metric=self.opt.metric, goal=self.opt.goal, grace_s=self.opt.grace_s,
                            patterns_for=patterns_for, stop_elsewhere=stop_elsewhere)
