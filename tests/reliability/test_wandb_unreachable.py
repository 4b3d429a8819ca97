"""Online W&B that cannot be reached costs one short check, not W&B's timeouts in every cell.

The W&B server is a loopback port nothing listens on (a bound, never-listening
socket), so the connection is refused here as it would be without a network.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path


@pytest.mark.slow
def test_unreachable_wandb_runs_every_cell_offline_with_one_warning(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("""
experiment:
  name: nowandb
  overrides: {DATASETS.NAME: digits, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}
wandb: {mode: online}
execution: {parallel: 1, devices: cpu}
models: [{name: small_cnn}]
""")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        env = {**os.environ, "WANDB_MODE": "online", "WANDB_API_KEY": "0123456789abcdef" * 2 + "01234567",
               "WANDB_BASE_URL": f"http://127.0.0.1:{closed.getsockname()[1]}"}
        done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                               "--config", str(tmp_path / "exp.yaml"), "--all"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stdout.splitlines() if "cannot be reached" in line]
    assert len(warnings) == 1 and "wandb sync" in warnings[0], done.stdout
    with Store.open(store_path(tmp_path / "output", "nowandb")) as store:
        (result,) = store.cell_results()
    assert result.latest.status == "completed"
    # The child logged offline: its run is on disk, ready for `wandb sync`.
    assert list(Path(result.latest.output_dir).glob("wandb/offline-run-*/run-*.wandb"))
