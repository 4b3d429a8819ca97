"""The scheduler loop: claim cells, fill device slots, settle, retry, stop cleanly.

Single-threaded polling keeps every store write in one place and makes signal
handling simple: the SIGINT handler only sets a flag, the loop then stops all
children's process groups (SIGTERM, grace, SIGKILL) and records them ``stopped``.
Cells are pulled lazily from any iterable, so the sweep engine can feed trials
one at a time as earlier ones finish.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Sized

from hyperparameter_system.atomic import remove_stale_temps
from hyperparameter_system.cell import Cell
from hyperparameter_system.child_contract import Status, metric_env
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.runner.attempt import ActiveAttempt, finish, launch, settle_stale
from hyperparameter_system.runner.child import attempt_dir, child_spec
from hyperparameter_system.runner.devices import Slot
from hyperparameter_system.runner.eta import eta_seconds
from hyperparameter_system.runner.outcome import Outcome
from hyperparameter_system.runner.progress import PlainProgress, RunningView
from hyperparameter_system.runner.retry import RetryPlan, RetryPolicy
from hyperparameter_system.runner.warm import ForkServer
from hyperparameter_system.store import DEFAULT_LEASE_S, Attempt, Store, StoreError

EXIT_OK, EXIT_UNSUCCESSFUL, EXIT_INTERRUPTED = 0, 1, 130
ENV_LEASE = "HPSYS_LEASE_S"  # seconds a running attempt's lease lasts unless renewed (the default: 120)
# Called with (cell, attempt id, all metrics records so far); True stops the cell
# as early_terminated (the sweep engine's hyperband hook).
StopRule = Callable[[Cell, int, list[dict[str, Any]]], bool]


@dataclass(frozen=True)
class RunOptions:
    """How to run: the resolved ``execution:`` settings plus CLI overrides."""

    slots: tuple[Slot, ...]
    timeout_s: float = 0.0
    policy: RetryPolicy = RetryPolicy()
    rerun: str | None = None  # None | "failed" | "all"
    wandb_mode: str = "offline"
    metric: str = "val/acc"
    goal: str = "maximize"
    grace_s: float = 10.0
    poll_s: float = 0.1
    metrics_every_s: float = 1.0
    lease_s: float = field(default_factory=lambda: lease_seconds(os.environ))
    # Variables every child gets besides its cell's own: the experiment's plugin
    # folders (HPSYS_PLUGIN_PATH), a sweep's id (HPS_SWEEP_ID).
    extra_env: tuple[tuple[str, str], ...] = ()

    def child_env(self) -> tuple[tuple[str, str], ...]:
        """What every child of this run gets besides its cell's own variables: ``extra_env`` and the
        metric it is ranked by (HPS_METRIC / HPS_GOAL), the same for the scheduler and a W&B agent."""
        return (*self.extra_env, *metric_env(self.metric, self.goal))


def lease_seconds(environ: Mapping[str, str]) -> float:
    """How long a running attempt's lease lasts: ``HPSYS_LEASE_S``, else the store's default.

    A runner renews its leases four times per lease; another runner (or the summary)
    takes an attempt whose lease ran out for one whose runner died.
    """
    raw = environ.get(ENV_LEASE, "").strip()
    if not raw:
        return DEFAULT_LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise HpsysError(f"{ENV_LEASE}: must be a number of seconds > 0, got {raw[:40]!r}")
    return value


@dataclass
class RunReport:
    """What happened to the selected cells; ``exit_code`` is the runner's."""

    statuses: dict[str, str] = field(default_factory=dict)  # cell id -> latest status
    launched: int = 0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        bad = [s for s in self.statuses.values() if s != Status.RUNNING.value and not Status(s).finished_ok]
        return EXIT_UNSUCCESSFUL if bad else EXIT_OK


@dataclass
class _Retry:
    ready_at: float
    cell: Cell
    previous: Attempt
    plan: RetryPlan
    crashes: int


class Runner:
    """Runs cells on slots against one store; one instance per ``run`` call."""

    def __init__(self, store: Store, output_root: Path, options: RunOptions,
                 progress: PlainProgress | None = None, stop_rule: StopRule | None = None) -> None:
        self.store, self.root, self.opt = store, Path(output_root), options
        self.progress = progress or PlainProgress()
        self.stop_rule = stop_rule
        self.session = uuid.uuid4().hex
        self.wandb_mode = options.wandb_mode  # "offline" once W&B turns out unreachable
        self.active: dict[int, ActiveAttempt] = {}  # slot index -> attempt
        self.retries: list[_Retry] = []
        self.report = RunReport()
        self._stop_signal: int | None = None
        self._done = 0
        self._total: int | None = None
        self._pending_models: collections.Counter[str] = collections.Counter()
        self._durations = store.durations_by_model()
        self._last_lease = self._last_metrics = 0.0
        self.forks = ForkServer(self.root, self.progress.event)  # started by the first built-in cell

    def run(self, cells: Iterable[Cell], expected: Sequence[str] | None = None) -> RunReport:
        """Run every claimable cell; returns when all ended or a stop signal was handled.

        ``expected`` is the model of each cell a lazy source (a sweep's trials)
        will yield, for the total and the ETA; None when unknown (the ETA is then ``?``).
        """
        previous = self._install_signals()  # first: Ctrl-C while orphans are being stopped is a clean stop too
        try:
            if expected is not None and not isinstance(cells, Sized):
                self._total = len(expected)
                self._pending_models.update(expected)
            source = self._prepare(cells)
            with self.progress:
                self._loop(source)
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            self._shutdown()
            self.forks.close()
        self._collect_statuses()
        return self.report

    def _prepare(self, cells: Iterable[Cell]) -> Iterator[Cell]:
        """Before the first launch: tidy what a killed run left, settle its attempts, check W&B."""
        patterns: dict[str, tuple[tuple[str, str], ...]] = {}
        if isinstance(cells, Sized):
            self._total = len(cells)
            self._pending_models.update(c.model for c in cells)  # type: ignore[attr-defined]
            patterns = {c.cell_id: c.metric_patterns for c in cells if c.metric_patterns}  # type: ignore[attr-defined]
            self._remove_stale_temps({Path(c.config_path).parent for c in cells})  # type: ignore[attr-defined]
        self._check_wandb()
        self._settle_stale(patterns)
        return iter(cells)

    def _loop(self, source: Iterator[Cell]) -> None:
        exhausted = False
        while not (exhausted and not self.active and not self.retries):
            if self.progress.closed and self._stop_signal is None:  # stdout's reader left (``| head``)
                self._stop_signal = signal.SIGPIPE
            if self._stop_signal is not None:
                self.report.interrupted = True
                return
            self._reap()
            exhausted = self._fill(source) or exhausted
            self._tick()
            time.sleep(self.opt.poll_s)

    # -- launching ----------------------------------------------------------------------
    def _fill(self, source: Iterator[Cell]) -> bool:
        """Start work on free slots; True once the cell source is exhausted."""
        exhausted = False
        for slot in self.opt.slots:
            if slot.index in self.active or self._stop_signal is not None:
                continue
            retry = self._ready_retry()
            if retry is not None:
                self._start_retry(slot, retry)
                continue
            cell = next(source, None)
            while cell is not None and not self._start_new(slot, cell):
                cell = next(source, None)
            exhausted = exhausted or cell is None
        return exhausted

    def _start_new(self, slot: Slot, cell: Cell) -> bool:
        """Claim and launch a cell; False when it is skipped (done, or another runner has it)."""
        self.store.register_cells([cell])
        self._pending_models[cell.model] -= 1
        if cell.same_as:  # an identical cell trains for it (resume and --rerun follow that one)
            self._done += 1
            self.progress.event(f"shared {cell.model}/{cell.run_name}: same training as cell {cell.same_as[:12]}")
            return False
        self.report.statuses.setdefault(cell.cell_id, Status.PENDING.value)
        attempt = self.store.claim(cell.cell_id, session=self.session, rerun=self.opt.rerun,
                                   output_dir_for=lambda n: str(attempt_dir(self.root, cell, n)),
                                   lease_s=self.opt.lease_s)
        if attempt is None:
            self._done += 1
            self.progress.event(f"skip   {cell.model}/{cell.run_name} ({self._latest_status(cell.cell_id)})")
            return False
        self._launch(slot, cell, attempt, (), 0)
        return True

    def _start_retry(self, slot: Slot, retry: _Retry) -> None:
        attempt = self.store.claim_retry(
            retry.previous, overrides=[list(kv) for kv in retry.plan.overrides], lease_s=self.opt.lease_s,
            output_dir_for=lambda n: str(attempt_dir(self.root, retry.cell, n)))
        if attempt is None:  # another runner took the cell meanwhile
            self._done += 1
            return
        self._launch(slot, retry.cell, attempt, retry.plan.overrides, retry.crashes)

    def _launch(self, slot: Slot, cell: Cell, attempt: Attempt,
                overrides: tuple[tuple[str, Any], ...], crashes: int) -> None:
        if cell.command is None and self.forks.start():  # its imports are not this cell's time
            attempt = replace(attempt, started_at=time.time())
            self.store.update_attempt(attempt.id, started_at=attempt.started_at)
        spec = child_spec(cell, attempt=attempt.attempt, slot=slot, output_root=self.root,
                          wandb_mode=self.wandb_mode, retry_overrides=overrides,
                          extra_env=self.opt.child_env())
        started = launch(self.store, cell, attempt, slot, spec, overrides, crashes, self.forks)
        self.report.launched += 1
        if isinstance(started, Outcome):
            self._after(cell, attempt, started, overrides, crashes)
            return
        self.active[slot.index] = started
        self.progress.event(f"start  {cell.model}/{cell.run_name} [{slot.label}] attempt {attempt.attempt}")

    def _ready_retry(self) -> _Retry | None:
        now = time.monotonic()
        for retry in sorted(self.retries, key=lambda r: r.ready_at):
            if retry.ready_at <= now:
                self.retries.remove(retry)
                return retry
        return None

    # -- settling -----------------------------------------------------------------------
    def _reap(self) -> None:
        for index, active in list(self.active.items()):
            active.check_timeout(self.opt.timeout_s)
            active.proc.enforce_grace(self.opt.grace_s)
            code = active.proc.poll()
            if code is None:
                continue
            del self.active[index]
            active.proc.stop_leftovers(self.opt.grace_s)
            out = finish(self.store, active, code, metric=self.opt.metric, goal=self.opt.goal,
                         stopping=self._stop_signal is not None)
            self._durations = self.store.durations_by_model()
            self._after(active.cell, active.attempt, out, active.overrides, active.crashes)

    def _after(self, cell: Cell, attempt: Attempt, out: Outcome,
               overrides: tuple[tuple[str, Any], ...], crashes: int) -> None:
        """Report an ended attempt and queue its retry when the policy allows one."""
        crashes += out.status == Status.FAILED
        value = "" if out.best_metric is None else f" {out.metric}={out.best_metric:.4g}"
        self.progress.event(f"{out.status.value:<7} {cell.model}/{cell.run_name} attempt {attempt.attempt}{value}")
        plan = None if self._stop_signal is not None else self.opt.policy.next(cell, out.status, crashes,
                                                                               overrides, out.exit_code)
        if plan is None or plan.final:
            self._done += 1
            if plan is not None:  # a final decision with something to say (an OOM that cannot be halved)
                self.progress.event(f"final  {cell.model}/{cell.run_name}: {plan.reason}")
            return
        self.progress.event(f"retry  {cell.model}/{cell.run_name} in {plan.delay_s:.0f}s: {plan.reason}")
        self.retries.append(_Retry(time.monotonic() + plan.delay_s, cell, attempt, plan, crashes))

    def _settle_stale(self, patterns: dict[str, tuple[tuple[str, str], ...]]) -> None:
        for attempt, out in settle_stale(self.store, metric=self.opt.metric, goal=self.opt.goal,
                                         grace_s=self.opt.grace_s, patterns_for=patterns):
            self.progress.event(f"settle attempt {attempt.attempt} of cell {attempt.cell_id[:12]}"
                                f" left by a dead runner: {out.status.value}")

    def _check_wandb(self) -> None:
        """Online W&B that cannot be reached: log every cell offline (one check, one line)."""
        from hyperparameter_system.wandb_integration import offline_fallback

        warning = offline_fallback(self.wandb_mode, f"{self.root}/*/*/attempt-*/wandb/offline-run-*")
        if warning:
            self.wandb_mode = "offline"
            self.progress.event(warning)

    def _remove_stale_temps(self, config_dirs: set[Path]) -> None:
        """Temporary files of atomic writes a killed run left (configs, result files)."""
        removed = remove_stale_temps(self.root, depth=3)  # <project>/<run>/attempt-<n>/
        removed += sum(remove_stale_temps(folder) for folder in config_dirs)
        if removed:
            self.progress.event(f"removed {removed} temporary file(s) left by an interrupted write")

    # -- periodic -----------------------------------------------------------------------
    def _tick(self) -> None:
        self.store.check_file()  # a deleted or replaced store ends the run (StoreError -> _shutdown)
        now = time.monotonic()
        if now - self._last_metrics >= self.opt.metrics_every_s:
            self._last_metrics = now
            for active in self.active.values():
                if active.follow_metrics(self.store) and self.stop_rule is not None \
                        and self.stop_rule(active.cell, active.attempt.id, active.records):
                    active.stop(Status.EARLY_TERMINATED)
        if now - self._last_lease >= self.opt.lease_s / 4:
            self._last_lease = now
            self.store.renew_leases(self.session, self.opt.lease_s)
        self._display()

    def _display(self) -> None:
        views = []
        for active in self.active.values():
            last = active.records[-1] if active.records else {}
            value = last.get(self.opt.metric)
            views.append(RunningView(active.cell.run_name, active.cell.model, active.slot.label,
                                     active.attempt.attempt, last.get("epoch"),
                                     value if isinstance(value, (int, float)) else None,
                                     active.proc.elapsed))
        eta = None if self._total is None else eta_seconds(  # a source of unknown length: no honest ETA
            self._durations, list(self._pending_models.elements()), len(self.opt.slots),
            [(a.cell.model, a.proc.elapsed) for a in self.active.values()])
        self.progress.update(self._done, self._total or self._done + len(views), views, eta,
                             self.opt.metric)

    # -- stopping -----------------------------------------------------------------------
    def _install_signals(self) -> tuple[Any, Any]:
        def handler(signum: int, _frame: Any) -> None:
            if self._stop_signal is not None:  # a second Ctrl-C: no more grace
                for active in self.active.values():
                    active.proc.term_sent_at = 0.0
            self._stop_signal = signum

        return signal.signal(signal.SIGINT, handler), signal.signal(signal.SIGTERM, handler)

    def _shutdown(self) -> None:
        """Stop every running child's process group and record each one."""
        if not self.active:
            return
        if self._stop_signal is None:  # an exception unwinds the loop: still a stop, not a crash
            self._stop_signal = 0
        for active in self.active.values():  # first, so nothing below can leave a child behind
            active.stop()
        self.progress.event(f"stopping {len(self.active)} running cell(s)")
        while self.active:
            try:
                self._reap()
            except StoreError as error:  # full or gone: the children are stopped all the same
                self.progress.event(f"not recorded: {error}")
            time.sleep(0.05)
        self.retries.clear()

    def _collect_statuses(self) -> None:
        for cell_id in self.report.statuses:
            self.report.statuses[cell_id] = self._latest_status(cell_id)

    def _latest_status(self, cell_id: str) -> str:
        attempts = self.store.attempts(cell_id)
        return attempts[-1].status if attempts else Status.PENDING.value
