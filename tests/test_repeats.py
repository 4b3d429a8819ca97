"""Repeats: every cell trained N times with seeds SEED, SEED+1, ..., each its own attempt and W&B run.

Real parts throughout: the CLI in a subprocess, the built-in trainer on the
bundled digits (8x8, one epoch), W&B in offline mode read back from its
files, a user's command that reports the seed it was given, kill -9 of the
runner, and SQLite as a store made before repeats existed left it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells
from hyperparameter_system.plugin.loading import load_plugins_for
from hyperparameter_system.store import Store, store_path
from wandb_runs import find_offline_runs, wait_for_offline_run
from reliability.fault_setup import cli, cli_argv, completed_attempts, wait_for
from seed_setup import seed_experiment, trainings
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _digits_experiment(tmp: Path) -> Path:
    """small_cnn on digits at 8x8 for one epoch (the tests run its baseline alone)."""
    path = tmp / "exp.yaml"
    path.write_text(textwrap.dedent(f"""
        experiment:
          name: rep
          output_dir: {tmp / 'out'}
          temp_config_dir: {tmp / 'configs'}
          overrides: {{DATASETS.NAME: digits, DATASETS.MAX_TRAIN_SAMPLES: 200, INPUT.SIZE: 8,
                       SOLVER.MAX_EPOCHS: 1, DATALOADER.BATCH_SIZE: 32, DEVICE: cpu}}
        wandb: {{mode: offline}}
        execution: {{parallel: 2, devices: cpu, retries: 0}}
        models:
          - name: small_cnn
        categories:
          optimizer:
            options: [{{name: Adam, lr: 0.003}}]
        """))
    return path


def _seed_experiment(tmp: Path, *, repeats: int, sleep: float = 0.0) -> Path:
    return seed_experiment(tmp, categories="optimizer: {options: [{name: SGD, lr: 0.1}]}", repeats=repeats,
                           sleep=sleep, overrides="{SEED: 7}")


@pytest.mark.slow
def test_two_repeats_train_every_cell_twice_with_consecutive_seeds(tmp_path: Path) -> None:
    config = _digits_experiment(tmp_path)
    done = cli(config, "--categories", "baseline", "--repeats", "2", timeout=300)  # two real trainings
    assert done.returncode == 0, done.stdout + done.stderr
    with Store.open(store_path(tmp_path / "out", "rep")) as store:
        results = store.cell_results()
    assert sorted((r.cell.category, r.cell.repeat, r.cell.seed) for r in results) == [
        ("baseline", 0, 42), ("baseline", 1, 43)]
    for row in results:
        assert row.n_attempts == 1 and row.latest.status == "completed"
        assert row.cell.run_name.endswith("_r1") == (row.cell.repeat == 1)
        assert Path(row.latest.output_dir).parent.name == row.cell.run_name  # its own attempt folder
        rendered = yaml.safe_load(Path(row.cell.config_path).read_text())
        assert rendered["SEED"] == row.cell.seed
    runs = {}
    for run_dir in find_offline_runs(tmp_path / "out"):
        run = wait_for_offline_run(run_dir)
        runs[run.name] = run
    assert sorted(runs) == sorted(r.cell.run_name for r in results)  # one W&B run per repeat
    for row in results:
        run = runs[row.cell.run_name]
        assert (run.group, run.config["SEED"]) == (row.cell.category, row.cell.seed)


def test_one_repeat_plans_exactly_the_cells_of_a_plan_without_repeats(tmp_path: Path) -> None:
    config = _seed_experiment(tmp_path, repeats=1)
    spec = load_experiment(config)
    registry = load_plugins_for(spec)
    now = datetime(2026, 11, 30, 12, 0)
    plain = plan_matrix(spec, registry, now=now)
    one = plan_matrix(spec, registry, now=now, repeats=1)
    two = plan_matrix(spec, registry, now=now, repeats=2)
    assert one == plain
    keys = [(c.cell_id, c.run_name, c.config_path, c.project, c.group) for c in one]
    assert [(c.cell_id, c.run_name, c.config_path, c.project, c.group) for c in two if c.repeat == 0] == keys
    assert [c.run_name for c in one] == ["base_default_2611301200", "opt_SGD_lr0.1_wd0.0001_m0.9_2611301200"]
    assert [(c.repeat, c.seed) for c in two] == [(0, 7), (0, 7), (1, 8), (1, 8)]
    first = render_cells(one, spec, registry)[0].read_text()
    assert render_cells([c for c in two if c.repeat == 0], spec, registry)[0].read_text() == first


def test_kill_9_then_resume_runs_only_the_repeats_not_yet_finished(tmp_path: Path) -> None:
    config = _seed_experiment(tmp_path, repeats=2, sleep=0.5)
    db = store_path(tmp_path / "out", "seeds")
    runner = subprocess.Popen(cli_argv(config, "--all"), cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: completed_attempts(db) >= 1, "a finished cell", timeout=90)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    before = trainings(tmp_path)
    done = cli(config, "--all", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    after = trainings(tmp_path)
    with Store.open(db) as store:
        cells = {r.cell.cell_id: r.cell for r in store.cells()}
    assert len(cells) == 4 and set(after) == set(cells) and before
    assert all(len(lines) == 1 for lines in after.values()), after  # nothing trained twice
    assert all(after[cell_id] == lines for cell_id, lines in before.items())  # finished before: not run again
    assert sorted((c.category, c.repeat) for c in cells.values()) == [
        (cat, r) for cat in ("baseline", "optimizer") for r in range(2)]
    for cell_id, lines in after.items():
        assert lines[0]["seed"] == 7 + cells[cell_id].repeat == cells[cell_id].seed


def test_repeats_are_checked_before_anything_runs(tmp_path: Path) -> None:
    config = _seed_experiment(tmp_path, repeats=0)
    done = cli(config, "--matrix")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"{config}:" in done.stderr and "execution.repeats: must be >= 1, got 0" in done.stderr
    assert cli(_seed_experiment(tmp_path, repeats=1), "--matrix", "--repeats", "0").returncode == 2
    refused = cli(EXAMPLES / "own_yacs_project.yaml", "--matrix", "--repeats", "2")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "has no SEED and key_map does not map it, so its 2 repeats would all train alike" in refused.stderr
    assert refused.stdout == ""


def test_a_store_made_before_repeats_gets_the_new_columns_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('created_at', '2026-11-01T12:00:00+00:00'), ('schema_version', '1');
        CREATE TABLE cells (cell_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, model TEXT NOT NULL,
            category TEXT NOT NULL, option TEXT, option_label TEXT NOT NULL, run_name TEXT NOT NULL,
            project TEXT NOT NULL, "group" TEXT NOT NULL, config_path TEXT NOT NULL, created TEXT NOT NULL);
        INSERT INTO cells VALUES ('abc', 'e', 'm', 'baseline', 'null', 'default', 'base', 'm', 'baseline',
            'c.yaml', '2026-11-01');
        """)
    conn.close()
    old = Store.open_readonly(path)  # a summary on an old store, writing nothing
    assert [(c.cell_id, c.repeat, c.seed, c.same_as) for c in (r.cell for r in old.cells())] == [("abc", 0, None, "")]
    old.close()
    with Store.open(path) as store:
        assert [(c.cell_id, c.repeat, c.seed, c.same_as)
                for c in (r.cell for r in store.cells())] == [("abc", 0, None, "")]
        assert store.meta("schema_version") == "4"  # brought up to the current version
        assert store.claim("abc", session="s") is not None


def test_a_script_with_its_own_schema_gets_each_repeats_seed_through_key_map(tmp_path: Path) -> None:
    text = (EXAMPLES / "own_yaml_project.yaml").read_text()
    text = text.replace("cwd: ../tests/", f"cwd: {EXAMPLES.parent}/tests/").replace(
        "    key_map:\n", "    key_map:\n      SEED: seed\n", 1)
    config = tmp_path / "exp.yaml"
    config.write_text(text.replace("./temp_configs", str(tmp_path / "configs")).replace("./output", str(tmp_path)))
    spec = load_experiment(config)
    registry = load_plugins_for(spec)
    cells = [c for c in plan_matrix(spec, registry, now=datetime(2026, 11, 30), repeats=2) if c.is_baseline]
    seeds = [yaml.safe_load(p.read_text())["seed"] for p in render_cells(cells, spec, registry)]
    assert [(c.repeat, c.seed) for c in cells] == [(0, 0), (1, 1)] and seeds == [0, 1]  # the project's seed: 0
