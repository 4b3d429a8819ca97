"""``hpsys --all | head -2``: a closed stdout stops the run like Ctrl-C, cleanly and resumably."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from procs import wait_none_left

from hyperparameter_system.store import Store, store_path

# A user's command: prints its metric after a short while (long enough to be running
# when the pipe closes, short enough for the resume to finish quickly).
CHILD = "import time; time.sleep(2); print('acc: 0.75', flush=True)"


def _write_experiment(tmp: Path) -> Path:
    config = tmp / "exp.yaml"
    config.write_text(f"""
experiment: {{name: pipe, metric: {{name: acc, goal: maximize}}}}
wandb: {{mode: disabled}}
execution: {{parallel: 2, devices: cpu}}
models:
  - name: sleeper
    command: ['{{{{ python }}}}', '-c', {CHILD!r}]
    metric_patterns: {{acc: 'acc: ([0-9.]+)'}}
categories:
  optimizer:
    options: [{{name: SGD, lr: 0.1}}, {{name: SGD, lr: 0.01}}]
""")
    return config


def _hpsys(config: Path) -> list[str]:
    return [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config), "--all"]


def test_closed_stdout_stops_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    config = _write_experiment(tmp_path)
    runner = subprocess.Popen(_hpsys(config), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert runner.stdout is not None and runner.stderr is not None
    first = [runner.stdout.readline() for _ in range(2)]  # what `| head -2` reads
    runner.stdout.close()
    code = runner.wait(timeout=60)
    stderr = runner.stderr.read().decode()
    assert code == 130, (first, stderr)  # stopped like Ctrl-C
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    wait_none_left(tmp_path / "output", timeout_s=15)
    with Store.open(store_path(tmp_path / "output", "pipe")) as store:
        assert "running" not in {a.status for a in store.attempts()}
    again = subprocess.run(_hpsys(config), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    with Store.open(store_path(tmp_path / "output", "pipe")) as store:
        results = store.cell_results()
        assert len(results) == 3 and {r.latest.status for r in results} == {"completed"}
        assert {r.latest.best_metric for r in results} == {0.75}
    # A reader gone before the summary is printed: the same clean stop, no traceback.
    summary = subprocess.Popen([*_hpsys(config)[:-1], "--summary"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert summary.stdout is not None and summary.stderr is not None
    summary.stdout.close()
    assert summary.wait(timeout=60) == 130
    assert summary.stderr.read() == b""
