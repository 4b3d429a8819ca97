"""``--summary`` / ``--best`` flags on the session's real store, through the real CLI.

Each test pins what a user typed and saw: a model filter that filters, JSON
that is JSON, ``-`` as stdout, a format that follows the file name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.store import Store

pytestmark = pytest.mark.slow  # the session fixture trains five real cells


def _cli(run, *flags: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(run.config), *flags],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_summary_of_an_unknown_model_is_one_line_with_did_you_mean_exit_2(real_run):
    done = _cli(real_run, "--summary", "--model", "small_cn")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "--model" in done.stderr and "did you mean 'small_cnn'?" in done.stderr
    shown = _cli(real_run, "--summary", "--model", "small_cnn", "--format", "json")
    assert [m["model"] for m in json.loads(shown.stdout)["models"]] == ["small_cnn"]


def test_best_as_json_names_the_metric_config_command_and_wandb_run(real_run):
    done = _cli(real_run, "--best", "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    (model,) = document["models"]
    best = model["best"]
    with Store.open(real_run.store) as store:
        finished = [r for r in store.cell_results() if r.latest and r.latest.status == "completed"]
    top = max(finished, key=lambda r: r.latest.best_metric)
    assert best["cell_id"] == top.cell.cell_id and best["metric"] == top.latest.best_metric
    assert best["config_path"] == top.cell.config_path and Path(best["config_path"]).is_file()
    assert "hyperparameter_system.train" in best["command"]
    assert best["wandb"]["path"] == f"small_cnn/{top.latest.wandb_run_id}"
    assert Path(best["wandb"]["run_dir"]).is_dir()


def test_output_dash_is_stdout(real_run, tmp_path):
    done = _cli(real_run, "--summary", "--format", "csv", "--output", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("model,category,option_label")
    assert not (tmp_path / "-").exists()


def test_output_format_follows_the_extension_and_a_conflict_is_refused(real_run, tmp_path):
    page = tmp_path / "r.html"
    done = _cli(real_run, "--summary", "--output", str(page))
    assert done.returncode == 0, done.stderr
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    data = tmp_path / "r.json"
    assert _cli(real_run, "--summary", "--output", str(data)).returncode == 0
    assert json.loads(data.read_text(encoding="utf-8"))["schema_version"] == 2
    clash = tmp_path / "clash.html"
    done = _cli(real_run, "--summary", "--format", "md", "--output", str(clash))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--format md" in done.stderr and "clash.html" in done.stderr
    assert not clash.exists()
