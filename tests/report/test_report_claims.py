"""The summary claims only what happened: compute saved and W&B runs that exist.

Hand-made attempts as the store records them: a user's command (run through
the wrapper) that printed two evaluations under a config whose unused
SOLVER.MAX_EPOCHS says three, and runs whose W&B run was never made.
"""

from __future__ import annotations

import json

from cell_records import cell_record
from hyperparameter_system.report import build_summary, find_best, render, render_best
from hyperparameter_system.report.records import AttemptRecord, CellRecord, EpochPoint
from hyperparameter_system.user_command import wrapper_argv

ELAPSED = (EpochPoint(1, {"val/acc": 0.7, "elapsed_s": 4.0}),
           EpochPoint(2, {"val/acc": 0.8, "elapsed_s": 8.0}))


def _cell(label: str, command: tuple[str, ...], *, run_id: str = "", run_dir: str = "",
          category: str = "optimizer") -> CellRecord:
    attempt = AttemptRecord(attempt=1, status="completed", duration_s=10.0, best_metric=0.8,
                            best_epoch=2, epochs_run=2, command=command, history=ELAPSED,
                            wandb_run_id=run_id, wandb_run_dir=run_dir)
    return cell_record(cell_id=f"id-{label}", model="m", category=category, option=label,
                       option_label=label, run_name=label, project="m",
                       config_path=f"/cfg/{label}.yaml", attempts=(attempt,), max_epochs=3)


def _summary(*cells: CellRecord):
    return build_summary(list(cells), experiment="e", metric="val/acc", goal="maximize", now=0.0)


def test_a_users_command_never_claims_compute_saved_by_early_stopping():
    command = tuple(wrapper_argv(["./run_b3.sh", "{{ config }}"], patterns=[("val/acc", "acc (\\S+)")],
                                 wandb_logging="off", config_path="/cfg/a.yaml"))
    summary = _summary(_cell("baseline", command, category="baseline"), _cell("a", command))
    assert summary.saved_s == 0.0
    for fmt in ("table", "md", "html"):
        assert "saved by early stopping" not in render(summary, fmt).lower()
    assert json.loads(render(summary, "json"))["compute"]["saved_by_early_stopping_s"] == 0.0
    # The built-in trainer stopping after 2 of 3 epochs did save one epoch (4 s).
    builtin = ("python", "-m", "hyperparameter_system.train", "--config-file", "/cfg/b.yaml")
    stopped = _summary(_cell("baseline", builtin, category="baseline"))
    assert stopped.saved_s == 4.0 and "saved by early stopping 4.0s" in render(stopped, "table")


def test_a_wandb_path_is_shown_only_for_a_run_that_was_made():
    # The runner hands every child a run id; no run dir means no run was made.
    summary = _summary(_cell("baseline", (), run_id="abc123", category="baseline"))
    cell = json.loads(render(summary, "json"))["models"][0]["cells"][0]
    assert cell["wandb"] == {"run_id": None, "run_dir": None, "path": None, "url": None}
    assert "W&B run" not in render_best(summary, find_best(summary))
    made = _summary(_cell("baseline", (), run_id="abc123", run_dir="/w/offline-run-1-abc123",
                          category="baseline"))
    assert json.loads(render(made, "json"))["models"][0]["cells"][0]["wandb"]["path"] == "m/abc123"
    assert "W&B run:   m/abc123 (/w/offline-run-1-abc123)" in render_best(made, find_best(made))
