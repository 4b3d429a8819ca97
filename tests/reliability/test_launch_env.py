"""The launch environment is one fact: taken once at launch, kept by the store, restored by a rebuild.

Both launch paths (the scheduler and a W&B agent's trial) go through
``launch``; what a reproduce command needs is recorded there, so a cell run by
either path reproduces the same way before and after ``--rebuild-store``.
Real store, real child process.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.commands.rebuild import rebuild_store
from hyperparameter_system.runner import attempt_dir, child_spec, make_slots
from hyperparameter_system.runner._attempt import ActiveAttempt, finish, launch
from hyperparameter_system.store import Store, store_path
from hyperparameter_system.store.launch_env import read_launches


def test_launch_records_the_environment_once_and_a_rebuild_restores_it(tmp_path: Path) -> None:
    root = tmp_path / "out" / "exp"
    cell = Cell(cell_id="c1", experiment="exp", model="m", category="optimizer", option={"name": "A"},
                option_label="A", run_name="opt_A_2611300200", project="m", group="optimizer", tags=(),
                config_path=str(tmp_path / "c.yaml"), cwd=str(tmp_path),
                command=(sys.executable, "-c", "pass"), env=(("MY_SEED", "7"),))
    slot = make_slots("cpu", 1)[0]
    with Store.open(store_path(tmp_path / "out", "exp"), experiment="exp") as store:
        store.register_cells([cell])
        attempt = store.claim(cell.cell_id, session=uuid.uuid4().hex,
                              output_dir_for=lambda n: str(attempt_dir(root, cell, n)))
        assert attempt is not None
        spec = child_spec(cell, attempt=attempt.attempt, slot=slot, output_root=root, wandb_mode="disabled")
        active = launch(store, cell, attempt, slot, spec, (), 0)  # as the W&B agent's trial does
        assert isinstance(active, ActiveAttempt)
        finish(store, active, active.proc.popen.wait(timeout=60), metric="val/acc", goal="maximize",
               stopping=False)
        before = read_launches(store)
    columns = json.loads((spec.output_dir / "attempt.json").read_text())["columns"]
    assert before == {attempt.id: (columns["launch_env"], columns["cwd"])}  # one value, in both places
    assert columns["launch_env"]["MY_SEED"] == "7" and columns["cwd"] == str(tmp_path)

    path = store_path(tmp_path / "out", "exp")
    for side in ("", "-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    rebuild_store(tmp_path / "out", "exp", metric="val/acc", goal="maximize")
    with Store.open(path, experiment="exp") as store:
        assert read_launches(store) == before
