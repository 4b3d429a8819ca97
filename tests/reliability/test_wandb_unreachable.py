"""Online W&B that cannot be reached costs one short check, not W&B's timeouts in every cell.

The run is the session's ``one_cell_run`` (tests/reliability/fault_setup.py): W&B
online, its server a loopback port that refuses every connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_setup import ONE_CELL_EXPERIMENT, OneCellRun

from hyperparameter_system.store import Store, store_path


@pytest.mark.slow
def test_unreachable_wandb_runs_every_cell_offline_with_one_warning(one_cell_run: OneCellRun) -> None:
    done = one_cell_run.done
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stdout.splitlines() if "cannot be reached" in line]
    assert len(warnings) == 1 and "wandb sync" in warnings[0], done.stdout
    with Store.open(store_path(one_cell_run.root / "output", ONE_CELL_EXPERIMENT)) as store:
        (result,) = store.cell_results()
    assert result.latest.status == "completed"
    # The child logged offline: its run is on disk, ready for `wandb sync`.
    assert list(Path(result.latest.output_dir).glob("wandb/offline-run-*/run-*.wandb"))
