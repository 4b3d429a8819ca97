"""The W&B sweeps engine (``sweeps`` package) as the local controller uses it.

The same code W&B's server runs decides which point comes next
(``sweeps.next_run``: grid / random / bayes) and which running trial hyperband
stops (``sweeps.stop_runs``). This module only translates: stored trials ->
``SweepRun`` objects, the engine's numpy values -> plain Python, and seeds the
engine's random draws from the sweep id and the number of trials so that a
sweep resumed with ``--sweep-id`` draws what an uninterrupted one would have.

How trial statuses reach the engine:
    running            -> running (hyperband judges it; bayes treats it as pending)
    completed          -> finished
    early_terminated   -> finished (its curve is real data; bayes uses its best value)
    failed/timeout/... -> failed (bayes imputes the worst value)
    stopped            -> left out: an interrupted trial, so grid offers its point again
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import warnings
from typing import Any, Iterator, Sequence

from hyperparameter_system.child_contract import Status
from hyperparameter_system.sweeps.space import plain
from hyperparameter_system.sweeps.state import TrialRecord

__all__ = ["ENGINE_VERSION", "suggest", "to_stop", "to_sweep_runs"]

ENGINE_VERSION = "0.3.0"  # the `sweeps` release this code and its pydantic 2 fix rely on


def _sweeps() -> Any:
    """Import the engine lazily, silencing its pydantic-2 config-key warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sweeps
    return sweeps


def to_sweep_runs(trials: Sequence[TrialRecord], metric: str) -> list[Any]:
    """Stored trials as the engine's ``SweepRun`` objects (interrupted ones left out)."""
    engine = _sweeps()
    states = {Status.RUNNING.value: engine.RunState.running, Status.COMPLETED.value: engine.RunState.finished,
              Status.EARLY_TERMINATED.value: engine.RunState.finished}
    runs = []
    for trial in trials:
        if trial.status == Status.STOPPED.value:
            continue
        history = [{metric: value} for value in trial.history]
        summary = {metric: trial.best_metric} if trial.best_metric is not None else {}
        runs.append(engine.SweepRun(
            name=str(trial.trial), state=states.get(trial.status, engine.RunState.failed),
            config={name: {"value": value} for name, value in trial.params.items()},
            history=history, summary_metrics=summary))
    return runs


@contextlib.contextmanager
def _seeded(seed_text: str) -> Iterator[None]:
    """Seed python's and numpy's global generators (the engine's) and restore them after."""
    import numpy as np

    seed = int(hashlib.sha256(seed_text.encode()).hexdigest()[:8], 16)
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def suggest(config: dict[str, Any], runs: Sequence[Any], *, seed: str) -> dict[str, Any] | None:
    """The next point ``{name: value}`` (plain Python), or None when a grid is exhausted."""
    engine = _sweeps()
    with _seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = engine.next_run(config, list(runs))
    if run is None:
        return None
    return {name: plain(entry["value"]) for name, entry in run.config.items()}


def to_stop(config: dict[str, Any], runs: Sequence[Any]) -> list[str]:
    """Names of the running trials hyperband stops now (empty without ``early_terminate``)."""
    if not config.get("early_terminate"):
        return []
    engine = _sweeps()
    return [run.name for run in engine.stop_runs(config, list(runs))]
