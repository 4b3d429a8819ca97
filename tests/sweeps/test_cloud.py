"""The W&B cloud backend, with a stand-in for the server.

``wandb.sweep`` and ``wandb.agent`` need a W&B server, which cannot exist
here; they are replaced by fakes that record what would be sent and play the
agent's part exactly as wandb's own agent does (the point in a YAML file at
WANDB_SWEEP_PARAM_PATH, the run id in WANDB_RUN_ID). Everything else is real:
the trial children run as processes and the store records them.
"""

from __future__ import annotations

import json
import os

import yaml

from hyperparameter_system.experiment_runner import main
from sweep_helpers import sweep_rows, write_experiment


class FakeServer:
    """Records wandb.sweep / wandb.agent calls and hands out grid points like the server would."""

    def __init__(self, tmp):
        self.tmp, self.sweeps, self.agents = tmp, [], []

    def sweep(self, config, project=None, entity=None):
        self.sweeps.append({"config": config, "project": project, "entity": entity})
        return "srv12345"

    def agent(self, sweep_id, function=None, project=None, entity=None, count=None):
        from wandb.sdk.lib import config_util

        from hyperparameter_system.sweeps.engine import suggest

        self.agents.append({"sweep_id": sweep_id, "project": project, "count": count})
        config, runs = self.sweeps[0]["config"], []
        for i in range(count):
            point = suggest(config, runs, seed=str(i))
            path = self.tmp / f"config-run{i}.yaml"
            config_util.save_config_file_from_dict(str(path), {k: {"value": v} for k, v in point.items()})
            os.environ.update(WANDB_RUN_ID=f"run{i}", WANDB_SWEEP_ID=sweep_id, WANDB_SWEEP_PARAM_PATH=str(path))
            try:
                function()
            finally:
                for key in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH"):
                    os.environ.pop(key, None)
            from sweeps import RunState, SweepRun
            runs.append(SweepRun(name=f"run{i}", state=RunState.finished,
                                 config={k: {"value": v} for k, v in point.items()}))


def test_wandb_backend_sends_the_sweep_to_the_model_project_and_runs_trials_as_children(
        workdir, monkeypatch):
    import wandb

    server = FakeServer(workdir)
    monkeypatch.setattr(wandb, "sweep", server.sweep)
    monkeypatch.setattr(wandb, "agent", server.agent)
    monkeypatch.setenv("WANDB_MODE", "online")  # what a logged-in machine resolves to
    write_experiment(workdir, epochs=2, epoch_s=0.0)
    (workdir / "s.yaml").write_text(yaml.safe_dump({
        "method": "grid", "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": {"base_lr": [0.01, 0.001]},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3}}))
    code = main(["--sweep", "--models", "curves", "--categories", "optimizer", "--sweep-config", "s.yaml",
                 "--count", "2"])
    assert code == 0
    sent = server.sweeps[0]
    assert sent["project"] == "curves"
    assert sent["config"] == {"method": "grid", "metric": {"name": "val/acc", "goal": "maximize"},
                              "parameters": {"base_lr": {"values": [0.01, 0.001]}},
                              "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3, "strict": True}}
    assert server.agents == [{"sweep_id": "srv12345", "project": "curves", "count": 2}]
    rows = sweep_rows(workdir)
    assert [(r["sweep_id"], r["status"]) for r in rows] == [("srv12345", "completed")] * 2
    for i, row in enumerate(rows):
        seen = json.loads(next((workdir / "out").rglob(f"*t{row['trial']:03d}/attempt-1/seen.json")).read_text())
        assert seen["env"]["WANDB_RUN_ID"] == f"run{i}"  # the child's wandb.init joins the sweep's run
        assert seen["env"]["WANDB_SWEEP_ID"] == seen["env"]["HPS_SWEEP_ID"] == "srv12345"
        assert (seen["env"]["HPS_METRIC"], seen["env"]["HPS_GOAL"]) == ("val/acc", "maximize")  # what a wrapper ranks by
        assert seen["overrides"]["SOLVER.BASE_LR"] == row["params"]["base_lr"]


def test_wandb_backend_without_a_login_is_a_one_line_error(workdir, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    write_experiment(workdir)
    assert main(["--sweep", "--models", "curves", "--categories", "optimizer", "--backend", "wandb"]) == 2
    assert "--backend wandb needs W&B online" in capsys.readouterr().err
