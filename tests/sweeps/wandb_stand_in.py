"""A stand-in for the W&B server's sweep calls (the real server cannot exist here).

``wandb.sweep`` and ``wandb.agent`` are replaced by :class:`FakeServer`, which
records what would be sent and plays the agent's part exactly as wandb's own
agent does (the point in a YAML file at WANDB_SWEEP_PARAM_PATH, the run id in
WANDB_RUN_ID). Everything else stays real: trial children run as processes and
the store records them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable


class FakeServer:
    """Records wandb.sweep / wandb.agent calls and hands out grid points like the server would."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.sweeps, self.agents = tmp, [], []

    def sweep(self, config: dict[str, Any], project: str | None = None, entity: str | None = None) -> str:
        self.sweeps.append({"config": config, "project": project, "entity": entity})
        return "srv12345"

    def agent(self, sweep_id: str, function: Callable[[], None] | None = None, project: str | None = None,
              entity: str | None = None, count: int | None = None) -> None:
        from sweeps import RunState, SweepRun
        from wandb.sdk.lib import config_util

        from hyperparameter_system.sweeps.engine import suggest

        self.agents.append({"sweep_id": sweep_id, "project": project, "count": count})
        config, runs = self.sweeps[0]["config"], []
        for i in range(count or 0):
            point = suggest(config, runs, seed=str(i))
            path = self.tmp / f"config-run{i}.yaml"
            config_util.save_config_file_from_dict(str(path), {k: {"value": v} for k, v in point.items()})
            os.environ.update(WANDB_RUN_ID=f"run{i}", WANDB_SWEEP_ID=sweep_id, WANDB_SWEEP_PARAM_PATH=str(path))
            try:
                assert function is not None
                function()
            finally:
                for key in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH"):
                    os.environ.pop(key, None)
            runs.append(SweepRun(name=f"run{i}", state=RunState.finished,
                                 config={k: {"value": v} for k, v in point.items()}))

    def install(self, monkeypatch: Any) -> None:
        """Stand in for the server: ``wandb.sweep`` / ``wandb.agent``, W&B resolving to online."""
        import wandb

        monkeypatch.setattr(wandb, "sweep", self.sweep)
        monkeypatch.setattr(wandb, "agent", self.agent)
        monkeypatch.setenv("WANDB_MODE", "online")  # what a logged-in machine resolves to
