"""The scheduler loop: claim cells, fill device slots, settle, retry, stop cleanly.

Each attempt goes through the runner's one lifecycle (``_lifecycle.Lifecycle``:
launch, follow, lease, timeout, stop, settle); the loop adds slots, retries,
progress and signals.

Single-threaded polling keeps every store write in one place and makes signal
handling simple: the SIGINT handler only sets a flag, the loop then stops all
children's process groups (SIGTERM, grace, SIGKILL) and records them ``stopped``.
Cells are pulled lazily from any iterable, so the sweep engine can feed trials
one at a time as earlier ones finish.
"""

from __future__ import annotations

import collections
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, Sized

from hyperparameter_system.files.atomic import remove_stale_temps
from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import Status
from hyperparameter_system.runner._devices import Slot
from hyperparameter_system.runner._eta import eta_seconds
from hyperparameter_system.runner._lifecycle import Ended, Lifecycle
from hyperparameter_system.runner._options import RunOptions, StopRule
from hyperparameter_system.runner._progress import PlainProgress, RunningView
from hyperparameter_system.runner._retry import RetryPlan
from hyperparameter_system.runner.warm import ForkServer
from hyperparameter_system.store import AttemptRecord, Store, StoreError

if TYPE_CHECKING:
    from hyperparameter_system.runner.cluster import AgentPool

EXIT_OK, EXIT_UNSUCCESSFUL, EXIT_INTERRUPTED = 0, 1, 130


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
    previous: AttemptRecord
    plan: RetryPlan
    crashes: int


class Runner:
    """Runs cells on slots against one store; one instance per ``run`` call."""

    def __init__(self, store: Store, output_root: Path, options: RunOptions,
                 progress: PlainProgress | None = None, stop_rule: StopRule | None = None,
                 forks: ForkServer | None = None, agents: AgentPool | None = None) -> None:
        self.store, self.root, self.opt = store, Path(output_root), options
        self.progress = progress or PlainProgress()
        self.wandb_mode = options.wandb_mode  # "offline" once W&B turns out unreachable
        self.retries: list[_Retry] = []
        self.report = RunReport()
        self._stop_signal: int | None = None
        self._done = 0
        self._total: int | None = None
        self._pending_models: collections.Counter[str] = collections.Counter()
        self._durations = store.durations_by_model()
        # Begun by the caller already, or by the first built-in cell.
        self.forks = forks or ForkServer(self.root, self.progress.event, options.exit_report_s)
        self.forks.stopping = lambda: self._stop_signal is not None
        self.attempts = Lifecycle(store, self.root, options, forks=self.forks, agents=agents, stop_rule=stop_rule)

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
            self.attempts.close()
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
        while not (exhausted and not self.attempts.active and not self.retries):
            if self.progress.closed and self._stop_signal is None:  # stdout's reader left (``| head``)
                self._stop_signal = signal.SIGPIPE
            if self._stop_signal is not None:
                self.report.interrupted = True
                return
            self._reap(self.attempts.follow())
            exhausted = self._fill(source) or exhausted
            self._tick()
            time.sleep(self.opt.poll_s)

    # -- launching ----------------------------------------------------------------------
    def _fill(self, source: Iterator[Cell]) -> bool:
        """Start work on free slots; True once the cell source is exhausted."""
        exhausted = False
        for slot in self.opt.slots:
            if slot.index in self.attempts.active or self._stop_signal is not None:
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
        attempt = self.attempts.claim(cell, rerun=self.opt.rerun)
        if attempt is None:
            self._done += 1
            self.progress.event(f"skip   {cell.model}/{cell.run_name} ({self._latest_status(cell.cell_id)})")
            return False
        self._launch(slot, cell, attempt, (), 0)
        return True

    def _start_retry(self, slot: Slot, retry: _Retry) -> None:
        attempt = self.attempts.claim_retry(retry.cell, retry.previous, retry.plan.overrides)
        if attempt is None:  # another runner took the cell meanwhile
            self._done += 1
            return
        self._launch(slot, retry.cell, attempt, retry.plan.overrides, retry.crashes)

    def _launch(self, slot: Slot, cell: Cell, attempt: AttemptRecord,
                overrides: tuple[tuple[str, Any], ...], crashes: int) -> None:
        started = self.attempts.launch(cell, attempt, slot, wandb_mode=self.wandb_mode, overrides=overrides,
                                       crashes=crashes)
        self.report.launched += 1
        if isinstance(started, AttemptRecord):
            self._after(cell, attempt, started, overrides, crashes)
            return
        self.progress.event(f"start  {cell.model}/{cell.run_name} [{slot.label}] attempt {attempt.attempt}")

    def _ready_retry(self) -> _Retry | None:
        now = time.monotonic()
        for retry in sorted(self.retries, key=lambda r: r.ready_at):
            if retry.ready_at <= now:
                self.retries.remove(retry)
                return retry
        return None

    # -- settling -----------------------------------------------------------------------
    def _reap(self, ended: list[Ended]) -> None:
        for active, out in ended:
            self._durations = self.store.durations_by_model()
            self._after(active.cell, active.attempt, out, active.overrides, active.crashes)

    def _after(self, cell: Cell, attempt: AttemptRecord, out: AttemptRecord,
               overrides: tuple[tuple[str, Any], ...], crashes: int) -> None:
        """Report an ended attempt and queue its retry when the policy allows one."""
        status = Status(out.status)
        crashes += status == Status.FAILED
        value = "" if out.best_metric is None else f" {out.metric}={out.best_metric:.4g}"
        self.progress.event(f"{status.value:<7} {cell.model}/{cell.run_name} attempt {attempt.attempt}{value}")
        plan = None if self._stop_signal is not None else self.opt.policy.next(cell, status, crashes,
                                                                               overrides, out.exit_code)
        if plan is None or plan.final:
            self._done += 1
            if plan is not None:  # a final decision with something to say (an OOM that cannot be halved)
                self.progress.event(f"final  {cell.model}/{cell.run_name}: {plan.reason}")
            return
        self.progress.event(f"retry  {cell.model}/{cell.run_name} in {plan.delay_s:.0f}s: {plan.reason}")
        self.retries.append(_Retry(time.monotonic() + plan.delay_s, cell, attempt, plan, crashes))

    def _settle_stale(self, patterns: dict[str, tuple[tuple[str, str], ...]]) -> None:
        for attempt, out in self.attempts.settle_stale(patterns):
            self.progress.event(f"settle attempt {attempt.attempt} of cell {attempt.cell_id[:12]}"
                                f" left by a dead runner: {Status(out.status).value}")

    def _check_wandb(self) -> None:
        """Online W&B that cannot be reached: log every cell offline (one check, one line)."""
        from hyperparameter_system.tracking.wandb_run import offline_fallback

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
        self._display()

    def _display(self) -> None:
        views = []
        for active in self.attempts.active.values():
            last = active.records[-1] if active.records else {}
            value = last.get(self.opt.metric)
            views.append(RunningView(active.cell.run_name, active.cell.model, active.slot.label,
                                     active.attempt.attempt, last.get("epoch"),
                                     value if isinstance(value, (int, float)) else None,
                                     active.proc.elapsed))
        eta = None if self._total is None else eta_seconds(  # a source of unknown length: no honest ETA
            self._durations, list(self._pending_models.elements()), len(self.opt.slots),
            [(a.cell.model, a.proc.elapsed) for a in self.attempts.active.values()])
        self.progress.update(self._done, self._total or self._done + len(views), views, eta,
                             self.opt.metric)

    # -- stopping -----------------------------------------------------------------------
    def _install_signals(self) -> tuple[Any, Any]:
        def handler(signum: int, _frame: Any) -> None:
            if self._stop_signal is not None:  # a second Ctrl-C: no more grace
                self.attempts.no_more_grace()
            self._stop_signal = signum

        return signal.signal(signal.SIGINT, handler), signal.signal(signal.SIGTERM, handler)

    def _shutdown(self) -> None:
        """Stop every running child's process group and record each one."""
        if not self.attempts.active:
            return
        if self._stop_signal is None:  # an exception unwinds the loop: still a stop, not a crash
            self._stop_signal = 0
        self.attempts.stop_all()  # first, so nothing below can leave a child behind
        self.progress.event(f"stopping {len(self.attempts.active)} running cell(s)")
        while self.attempts.active:
            try:
                self._reap(self.attempts.reap(stopping=True))
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
