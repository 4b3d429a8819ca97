"""The local sweep controller: the W&B engine choosing trials, the runner running them.

No W&B server is needed. The open-source engine (``sweeps.next_run``) picks
each next point from the trials so far; the runner (``runner.Runner``) runs
each trial as a child process exactly like a matrix cell (own process group,
log file, timeout, retries, live copy of ``metrics.jsonl`` into the store)
and pulls trials lazily, one per free slot, so ``--parallel N`` runs N side by
side and bayes sees every finished trial before proposing the next.

Hyperband acts while trials run: the runner hands every new evaluation
(polled every ~0.2 s) to :meth:`LocalSweep._stop_rule`, which asks
``sweeps.stop_runs`` once per new report, in order, so a burst of lines read
in one poll is judged exactly as if each had been seen alone. A stopped trial
gets SIGTERM (the trainer ends at the next iteration with status
``stopped``), is recorded ``early_terminated``, and its saved epochs
(``SOLVER.MAX_EPOCHS - epochs run``) show in ``sweep_trials.epochs_saved``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from hyperparameter_system import child_contract as cc
from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import Status
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.runner import PlainProgress, Runner, RunOptions
from hyperparameter_system.store import Store
from hyperparameter_system.sweeps.engine import suggest, to_stop, to_sweep_runs
from hyperparameter_system.sweeps.space import contains
from hyperparameter_system.sweeps.state import SweepRecord, SweepState, TrialRecord
from hyperparameter_system.sweeps.trial import TrialPlanner

__all__ = ["LocalSweep", "SweepOutcome"]


@dataclass
class SweepOutcome:
    """What one invocation did: its trial numbers and the runner's exit code."""

    sweep_id: str
    trials: list[int] = field(default_factory=list)
    exit_code: int = 0
    exhausted: bool = False  # a grid ran out of points


@dataclass
class LocalSweep:
    """One invocation of a local sweep (new, or continued with ``--sweep-id``).

    Attributes:
        store: The experiment's results store.
        record: The sweep (its engine config is what the engine sees).
        planner: Turns points into rendered trial cells.
        output_root: Root of trial output folders.
        options: Runner options (slots = ``--parallel``, timeout, retries, W&B mode).
        count: New trials to run now (None: until a grid is exhausted).
        progress: Where the runner reports events.
    """

    store: Store
    record: SweepRecord
    planner: TrialPlanner
    output_root: Path
    options: RunOptions
    count: int | None
    progress: PlainProgress | None = None
    state: SweepState = field(init=False)
    _trial_of: dict[str, int] = field(default_factory=dict, init=False)
    _live: dict[int, list[float]] = field(default_factory=dict, init=False)
    _judged: dict[int, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.state = SweepState(self.store)

    @property
    def sweep_id(self) -> str:
        return self.record.sweep_id

    @property
    def metric(self) -> str:
        return self.record.config["metric"]["name"]

    def run(self) -> SweepOutcome:
        """Run up to ``count`` new trials; the sweep's state survives any crash."""
        outcome = SweepOutcome(self.sweep_id)
        # Every trial learns its sweep id (its W&B run config carries it).
        options = dataclasses.replace(
            self.options, extra_env=(*self.options.extra_env, (cc.ENV_SWEEP_ID, self.sweep_id)))
        runner = Runner(self.store, self.output_root, options, self.progress, stop_rule=self._stop_rule)
        # The trials still to come, for the total and the ETA (a grid run to its end: unknown).
        expected = None if self.count is None else [self.planner.model] * self.count
        report = runner.run(self._trials(outcome), expected=expected)
        self.sync()
        outcome.exit_code = report.exit_code
        return outcome

    # -- choosing trials ------------------------------------------------------------------
    def _trials(self, outcome: SweepOutcome) -> Iterator[Cell]:
        """Trial cells, each decided when the runner has a free slot for it."""
        while self.count is None or len(outcome.trials) < self.count:
            trials = self.sync()
            point = suggest(self.record.config, to_sweep_runs(trials, self.metric),
                            seed=f"{self.sweep_id}:{len(trials)}")
            if point is None:
                outcome.exhausted = True
                return
            self._check_support(point)
            number = self.state.reserve_trial(self.sweep_id, point)
            try:
                cell = self.planner.trial_cell(point, number)
            except BaseException:
                self.state.update_trial(self.sweep_id, number, state=Status.FAILED.value)
                raise
            self.state.update_trial(self.sweep_id, number, cell_id=cell.cell_id, state=Status.RUNNING.value,
                                    max_epochs=cell.max_epochs)
            self._trial_of[cell.cell_id] = number
            outcome.trials.append(number)
            yield cell

    def _check_support(self, point: dict[str, Any]) -> None:
        """Every sampled value must lie in its declared distribution (else the engine misbehaved)."""
        for name, spec in self.record.config["parameters"].items():
            if name not in point or not contains(spec, point[name]):
                raise HpsysError(f"sweep engine proposed {name}={point.get(name)!r}, outside {spec}; "
                                 f"this is a bug (sweeps {self._engine_version()})")

    @staticmethod
    def _engine_version() -> str:
        from importlib.metadata import version

        return version("sweeps")

    # -- hyperband ------------------------------------------------------------------------
    def _stop_rule(self, cell: Cell, attempt_id: int, records: list[dict[str, Any]]) -> bool:
        """True when hyperband stops this trial at one of its new reports."""
        number = self._trial_of.get(cell.cell_id)
        if number is None:
            return False
        history = metric_history(records, self.metric)
        self._live[number] = history
        if not self.record.config.get("early_terminate"):
            return False
        others = [t for t in self.state.trials(self.sweep_id) if t.trial != number]
        for seen in range(self._judged.get(number, 0) + 1, len(history) + 1):
            self._judged[number] = seen
            runs = to_sweep_runs([*map(self._with_live, others), _running(number, history[:seen])], self.metric)
            if str(number) in to_stop(self.record.config, runs):
                self.progress_event(f"hyperband stops trial {number} after {seen} evaluation(s)")
                return True
        return False

    def _with_live(self, trial: TrialRecord) -> TrialRecord:
        live = self._live.get(trial.trial, [])
        if len(live) > len(trial.history):
            return dataclasses.replace(trial, history=live)
        return trial

    def progress_event(self, text: str) -> None:
        if self.progress is not None:
            self.progress.event(text)

    # -- bookkeeping ----------------------------------------------------------------------
    def sync(self) -> list[TrialRecord]:
        """The trials as their attempts say; a trial left without one (not this process's) is stopped."""
        for trial in self.state.trials(self.sweep_id):
            abandoned = trial.status == Status.PENDING.value or trial.cell_id not in self._trial_of
            if trial.attempt_id is None and abandoned:
                self.state.update_trial(self.sweep_id, trial.trial, state=Status.STOPPED.value)
        return self.state.trials(self.sweep_id)


def metric_history(records: list[dict[str, Any]], metric: str) -> list[float]:
    """The metric of each evaluation line that has it, in order."""
    values = []
    for record in records:
        value = record.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values.append(float(value))
    return values


def _running(number: int, history: list[float]) -> TrialRecord:
    return TrialRecord(sweep_id="", trial=number, cell_id="", attempt_id=None, params={},
                       status=Status.RUNNING.value, epochs_run=None, epochs_saved=None, best_metric=None,
                       history=history, started_at=None, ended_at=None)
