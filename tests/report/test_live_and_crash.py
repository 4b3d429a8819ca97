"""``--summary`` while a runner holds a cell, after that runner was killed with -9, and
the user errors a summary meets (no store, a damaged one, a bad flag value).

A real second process plays the runner: it claims a cell in the real store,
records two evaluations through the store's API and waits. The summary is then
taken through the real CLI in a third process, with the "runner" alive and
after SIGKILL, so nothing here needs the runner package.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.store import Store, store_path
from report_stores import start_standin, write_experiment


def _experiment(tmp_path: Path) -> Path:
    return write_experiment(tmp_path, "live", "exp.yaml")


def _cell(category: str, label: str) -> Cell:
    return Cell(cell_id=f"id-{label}", experiment="live", model="small_cnn", category=category,
                option=None if category == "baseline" else {"name": label}, option_label=label,
                run_name=f"{category}_{label}", project="small_cnn", group=category, tags=(),
                config_path=f"/nonexistent/{label}.yaml")


def _summary_json(config: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(config), "--summary", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture()
def store_with_standin(tmp_path: Path):
    """A store with a finished baseline, a pending cell, and one cell claimed by a live process."""
    config = _experiment(tmp_path)
    db = store_path(tmp_path / "out", "live")
    with Store.open(db, experiment="live") as store:
        store.register_cells([_cell("baseline", "baseline"), _cell("optimizer", "AdamW"),
                              _cell("optimizer", "SGD")])
        done = store.claim("id-baseline", session="earlier")
        store.finish_attempt(done.id, "completed", best_metric=0.70, best_epoch=2, epochs_run=2,
                             metric="val/acc")
    standin = start_standin(db, "id-AdamW")
    yield config, standin
    if standin.poll() is None:
        standin.kill()
    standin.wait()


def _cells_by_label(report: dict) -> dict[str, dict]:
    return {c["option_label"]: c for c in report["models"][0]["cells"]}


def test_summary_during_a_run_shows_running_and_pending_cells(store_with_standin):
    config, _ = store_with_standin
    cells = _cells_by_label(_summary_json(config))
    assert cells["AdamW"]["status"] == "running"
    assert cells["AdamW"]["metric"] == 0.74  # best so far, from the epochs copied into the store
    assert cells["AdamW"]["delta_vs_baseline"] == pytest.approx(0.04)
    assert cells["SGD"]["status"] == "pending" and cells["SGD"]["metric"] is None
    assert not cells["AdamW"]["is_best_of_model"]  # an unfinished cell never wins
    assert cells["baseline"]["is_best_of_model"]


def test_summary_after_the_runner_was_killed(store_with_standin):
    config, standin = store_with_standin
    os.kill(standin.pid, signal.SIGKILL)
    standin.wait()
    report = _summary_json(config)
    cells = _cells_by_label(report)
    assert cells["AdamW"]["status"] == "interrupted"
    assert cells["AdamW"]["metric"] == 0.74 and cells["AdamW"]["epochs_run"] == 2
    assert cells["AdamW"]["duration_s"] == 2.0  # stops at the last report, not at "now"
    assert report["status_counts"] == {"completed": 1, "interrupted": 1, "pending": 1}
    table = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                            "--config", str(config), "--summary"], capture_output=True, text=True)
    assert table.returncode == 0
    assert "0.7400" in table.stdout
    assert "AdamW: interrupted: its runner died mid-run" in table.stdout


def test_missing_store_is_one_line_and_exit_2(tmp_path: Path):
    config = _experiment(tmp_path)
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(config), "--summary"], capture_output=True, text=True)
    assert done.returncode == 2
    expected = store_path(tmp_path / "out", "live")
    assert done.stderr == (f"error: no results yet for experiment live (looked in {expected}); "
                           f"run `hpsys --all --config {config}` first\n")
    assert not expected.exists() and done.stdout == ""


def _summary_cli(config: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(config), "--summary", *flags],
                          capture_output=True, text=True, timeout=60)


def test_unwritable_output_is_one_line_and_exit_2(store_with_standin, tmp_path: Path):
    config, _ = store_with_standin
    (tmp_path / "taken").mkdir()
    done = _summary_cli(config, "--output", str(tmp_path / "taken"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"error: --output: cannot write {tmp_path / 'taken'}: Is a directory\n"
    assert list((tmp_path / "taken").iterdir()) == [] and not list(tmp_path.glob(".taken.*"))


def test_a_store_whose_tables_are_not_made_yet_has_no_results_yet(tmp_path: Path):
    # The moment between a runner creating the file and creating its tables.
    config = _experiment(tmp_path)
    db = store_path(tmp_path / "out", "live")
    db.parent.mkdir(parents=True)
    sqlite3.connect(db).close()  # an empty SQLite database
    done = _summary_cli(config)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"error: no results yet for experiment live (its store {db} is being "
                           "created); try again in a moment\n")


def test_damaged_store_is_one_line_and_exit_2(tmp_path: Path):
    config = _experiment(tmp_path)
    db = store_path(tmp_path / "out", "live")
    db.parent.mkdir(parents=True)
    db.write_text("not an sqlite file\n")
    done = _summary_cli(config)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {db}: not a readable results store (file is not a database);")
    assert "--rebuild-store" in done.stderr and done.stderr.count("\n") == 1


def test_unknown_category_is_refused_like_an_unknown_model(store_with_standin):
    config, _ = store_with_standin
    done = _summary_cli(config, "--categories", "optimizr")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("error: --categories: no results for category 'optimizr' in experiment "
                           "live (known: baseline, optimizer); did you mean 'optimizer'?\n")
    kept = _summary_cli(config, "--categories", "optimizer", "--format", "json")
    assert {c["category"] for c in json.loads(kept.stdout)["models"][0]["cells"]} == {
        "baseline", "optimizer"}
