"""Guards on the W&B sweeps engine the local controller runs on.

sweeps 0.2.0 with pydantic 2 dropped a SweepRun's ``history`` (a field alias
regression), so ``stop_runs`` silently stopped nothing; 0.3.0 fixed it.
"""

from __future__ import annotations

import importlib.metadata
import warnings

from hyperparameter_system.sweeps.engine import ENGINE_VERSION


def test_sweeps_engine_is_the_pinned_release():
    assert importlib.metadata.version("sweeps") == ENGINE_VERSION == "0.3.0"


def test_stop_runs_sees_history_and_names_the_run_to_stop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sweeps import RunState, SweepRun, stop_runs

    config = {"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
              "early_terminate": {"type": "hyperband", "max_iter": 5, "eta": 2, "s": 2},
              "parameters": {"a": {"values": [1, 2, 3]}}}
    runs = [SweepRun(name="good", state=RunState.finished, history=[{"loss": 10}, {"loss": 6}]),
            SweepRun(name="ok", state=RunState.finished, history=[{"loss": 10}, {"loss": 7}]),
            SweepRun(name="bad", state=RunState.running, history=[{"loss": 10}, {"loss": 9}])]
    assert runs[2].metric_history("loss") == [10, 9]
    assert [run.name for run in stop_runs(config, runs)] == ["bad"]
