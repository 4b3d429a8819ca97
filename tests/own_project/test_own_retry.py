"""Out of memory in a user's own project: the retry halves the batch in the script's own keys.

A real plain-YAML project (a Python script reading its config file and
``KEY VALUE`` overrides, exiting 4 on out of memory above batch 16) runs under
the CLI. The retry must reach the script through its key_map (``batch_size``,
``accum_steps``), starting from the batch size the planner gave the cell, and a
model whose key_map drops the accumulation gets no halving, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """import json, os, sys
import yaml
cfg = yaml.safe_load(open(sys.argv[1]))
over = dict(zip(sys.argv[2::2], sys.argv[3::2]))
batch, accum = int(over.get("batch_size", cfg["batch_size"])), int(over.get("accum_steps", cfg["accum_steps"]))
print(f"script saw batch {batch} accum {accum}", flush=True)
if batch > 16:
    print("RuntimeError: CUDA out of memory", flush=True)
    sys.exit(4)
result = {"status": "completed", "metric": "val_acc", "goal": "maximize", "best_metric": 0.5, "best_epoch": 1,
          "final_metrics": {"val_acc": 0.5}, "epochs_run": 1, "duration_s": 0.1, "error": None}
with open(os.path.join(os.environ["HPS_OUTPUT_DIR"], "result.json"), "w") as handle:
    json.dump(result, handle)
"""

MODEL = """  - name: {name}
    cwd: project
    command: ["{{{{ python }}}}", train.py, "{{{{ config_path }}}}", "{{{{ overrides }}}}"]
    schema: config.yaml
    overrides: {{batch_size: 48}}
    key_map: {{DATALOADER.BATCH_SIZE: batch_size, SOLVER.GRAD_ACCUM: {accum}}}
"""


def test_out_of_memory_halves_the_scripts_own_batch_key_or_says_why_it_cannot(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    (project / "config.yaml").write_text("batch_size: 64\naccum_steps: 1\nlr: 0.1\n")
    config = tmp_path / "exp.yaml"
    config.write_text("experiment: {name: oom, metric: {name: val_acc, goal: maximize}}\n"
                      "wandb: {mode: disabled}\nexecution: {parallel: 2, devices: cpu, timeout: 120}\nmodels:\n"
                      + MODEL.format(name="halves", accum="accum_steps") + MODEL.format(name="fixed", accum="null"))
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), "--all"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WANDB_MODE": "disabled"})
    output = done.stdout + done.stderr
    # 48 (the model's own override, as planned) -> 24 -> 12, accumulation 1 -> 2 -> 4: the same effective batch.
    assert "out of memory at batch_size 48: batch_size 24 x accum_steps 2" in output, output
    assert "out of memory at batch_size 24: batch_size 12 x accum_steps 4" in output, output
    logs = sorted((tmp_path / "output").rglob("halves/*/attempt-*/stdout.log"))
    seen = [line for log in logs for line in log.read_text().splitlines() if line.startswith("script saw")]
    assert seen == ["script saw batch 48 accum 1", "script saw batch 24 accum 2", "script saw batch 12 accum 4"]
    # The model whose key_map drops the accumulation: one attempt, and the reason.
    assert "out of memory, not retried: model fixed: key_map drops SOLVER.GRAD_ACCUM (null)" in output, output
    assert len(list((tmp_path / "output").rglob("fixed/*/attempt-*"))) == 1
