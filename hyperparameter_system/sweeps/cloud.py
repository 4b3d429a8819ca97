"""The W&B cloud controller: a real W&B sweep, trials pulled by an agent, run as children.

With a W&B server the sweep lives there (``wandb.sweep`` in the model's
project), so any number of agents on any number of machines share it: each
runs ``hpsys --sweep --sweep-id ID``. The server chooses points and hyperband
stops; this side only turns each point into a trial cell and runs it as a
child process through the runner's machinery (own process group, log file,
result files, the store).

``wandb.agent`` calls :meth:`CloudSweep.trial` once per point with the
point in the YAML file at ``WANDB_SWEEP_PARAM_PATH`` and the run id in
``WANDB_RUN_ID``. No run is started here: the child inherits ``WANDB_RUN_ID``,
``WANDB_SWEEP_ID`` and ``WANDB_SWEEP_PARAM_PATH``, so the trainer's own
``wandb.init`` *is* the sweep run. When the server stops a run, the agent
raises inside this thread; the child then gets SIGTERM and the trial is
recorded ``early_terminated``. The trial's attempt goes through the runner's
own lifecycle (``runner.Lifecycle``), so its lease is renewed while it runs:
another runner on the same store never takes it for an abandoned one.

Nothing here can run without a server (``wandb.sweep`` fails at once without
an API key); tests stand in for the server and check what would be sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import Status
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.runner import Lifecycle, RunOptions
from hyperparameter_system.store import AttemptRecord, Store
from hyperparameter_system.sweeps.state import SweepState
from hyperparameter_system.sweeps.trial import TrialPlanner

__all__ = ["CloudSweep", "read_agent_point"]

_AGENT_KEYS = ("wandb_version", "_wandb")  # what the agent's parameter file holds besides the point


def read_agent_point(path: str) -> dict[str, Any]:
    """The point of one agent job: ``{name: {value: v}}`` YAML -> ``{name: v}``."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return {name: entry["value"] for name, entry in data.items()
            if name not in _AGENT_KEYS and isinstance(entry, dict) and "value" in entry}


@dataclass
class CloudSweep:
    """A sweep on the W&B server, run by a ``wandb.agent`` in this process.

    Attributes:
        store: The experiment's results store (trials are recorded here too).
        planner: Turns points into rendered trial cells.
        output_root: Root of trial output folders.
        options: Runner options (the first slot runs the trials; W&B mode online).
        project: W&B project (the model's).
        entity: W&B entity, or "" for the default one.
    """

    store: Store
    planner: TrialPlanner
    output_root: Path
    options: RunOptions
    project: str
    entity: str = ""

    def create(self, config: dict[str, Any]) -> str:
        """Register the sweep on the server; returns its id."""
        import wandb

        try:
            return str(wandb.sweep(config, project=self.project, entity=self.entity or None))
        except Exception as error:  # noqa: BLE001 - any server/auth failure is one user-facing line
            raise HpsysError(f"W&B refused the sweep ({type(error).__name__}: {error}); "
                             "use --backend local to run it without a server") from None

    def run(self, sweep_id: str, count: int | None) -> None:
        """Pull and run ``count`` trials (None: until the server says the sweep is done)."""
        import wandb

        self.planner.sweep_id = sweep_id
        wandb.agent(sweep_id, function=self.trial, project=self.project, entity=self.entity or None,
                    count=count)

    def trial(self) -> None:
        """One agent job: build the trial cell, run the child, record it."""
        sweep_id = os.environ.get("WANDB_SWEEP_ID", self.planner.sweep_id)
        run_id = os.environ["WANDB_RUN_ID"]
        point = read_agent_point(os.environ["WANDB_SWEEP_PARAM_PATH"])
        state = SweepState(self.store)
        number = state.reserve_trial(sweep_id, point)
        cell = self.planner.trial_cell(point, number)
        state.update_trial(sweep_id, number, cell_id=cell.cell_id, state=Status.RUNNING.value)
        self.store.register_cells([cell])
        attempts = Lifecycle(self.store, self.output_root, self.options)
        attempt = attempts.claim(cell)
        if attempt is None:  # pragma: no cover - a fresh trial cell is always claimable
            raise HpsysError(f"trial {number} of sweep {sweep_id} could not be claimed")
        # The child joins the agent's run: its own wandb.init *is* the sweep run.
        started = attempts.launch(cell, attempt, self.options.slots[0], wandb_mode=self.options.wandb_mode,
                                  env={"WANDB_RUN_ID": run_id, cc.ENV_SWEEP_ID: sweep_id})
        try:
            out = started if isinstance(started, AttemptRecord) else attempts.wait(started)
        finally:
            attempts.close()
        if not Status(out.status).finished_ok:
            reason = (out.error_tail or "").split("\n", 1)[0] or "no error text"  # the headline, not the log's last line
            raise HpsysError(f"trial {number} ended {Status(out.status).value}: {reason}")
