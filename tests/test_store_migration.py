"""A result lands once in the store, and a version-2 store (as the code before wrote it) is
brought up to date on open: its result blobs move into columns and its sweep trials
table becomes the view derived from the attempts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hyperparameter_system.child_contract import check_result
from hyperparameter_system.report.gather import read_cells
from hyperparameter_system.store import Store, store_path
from hyperparameter_system.sweeps.state import SweepState

# The schema and rows version 2 wrote (results.sqlite of that code), trimmed to what matters here.
VERSION_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, model TEXT NOT NULL,
    category TEXT NOT NULL, option TEXT, option_label TEXT NOT NULL, run_name TEXT NOT NULL,
    project TEXT NOT NULL, "group" TEXT NOT NULL, config_path TEXT NOT NULL, created TEXT NOT NULL,
    repeat INTEGER NOT NULL DEFAULT 0, seed INTEGER, same_as TEXT);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cell_id TEXT NOT NULL REFERENCES cells(cell_id),
    attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL, ended_at REAL,
    duration_s REAL, exit_code INTEGER, command TEXT, overrides TEXT, output_dir TEXT,
    log_path TEXT, wandb_run_id TEXT, wandb_run_dir TEXT, metric TEXT, best_metric REAL,
    best_epoch INTEGER, epochs_run INTEGER, error_tail TEXT, result TEXT,
    runner_pid INTEGER, runner_host TEXT, session TEXT, lease_expires REAL, child_pid INTEGER,
    UNIQUE (cell_id, attempt));
CREATE TABLE epochs (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id), seq INTEGER NOT NULL,
    epoch INTEGER, step INTEGER, metrics TEXT NOT NULL, PRIMARY KEY (attempt_id, seq));
CREATE TABLE sweeps (
    sweep_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, model TEXT NOT NULL, category TEXT NOT NULL,
    backend TEXT NOT NULL, method TEXT NOT NULL, config TEXT NOT NULL, spec TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE sweep_trials (
    sweep_id TEXT NOT NULL REFERENCES sweeps(sweep_id), trial INTEGER NOT NULL,
    cell_id TEXT NOT NULL, attempt_id INTEGER, params TEXT NOT NULL, status TEXT NOT NULL,
    epochs_run INTEGER, epochs_saved INTEGER, best_metric REAL, history TEXT,
    started_at REAL, ended_at REAL, PRIMARY KEY (sweep_id, trial));
INSERT INTO meta VALUES ('created_at', '2026-01-02T03:04:00+00:00'), ('experiment', 'exp'),
    ('metric', 'val/acc'), ('goal', 'maximize'), ('schema_version', '2');
INSERT INTO cells VALUES ('c1', 'exp', 'm', 'sweep', '{"lr": 0.1}', 'lr0.1', 'sw_lr0.1', 'm', 'sweep',
    '/c.yaml', '2026-01-02', 0, NULL, NULL);
INSERT INTO sweeps VALUES ('sw1', 'exp', 'm', 'sweep', 'local', 'random', '{"metric": {"name": "val/acc"}}',
    '{}', 1.0);
"""
RESULT = {"status": "early_terminated", "metric": "val/acc", "goal": "maximize", "best_metric": 0.5,
          "best_epoch": 2, "final_metrics": {"val/acc": 0.4}, "epochs_run": 2, "duration_s": 7.5,
          "samples_per_s": 100.0, "peak_memory_mb": 12.0, "config_path": "/c.yaml", "wandb_run_dir": None,
          "wandb_run_id": "run-reported", "error": None, "batch": 16}


def _version_2_store(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_2)
    conn.execute("INSERT INTO attempts (cell_id, attempt, status, started_at, ended_at, duration_s, metric,"
                 " best_metric, best_epoch, epochs_run, result, wandb_run_id) VALUES"
                 " ('c1', 1, 'early_terminated', 1.0, 9.0, 8.0, 'val/acc', 0.5, 2, 2, ?, 'run-handed')",
                 (json.dumps(RESULT),))
    conn.executemany("INSERT INTO epochs VALUES (1, ?, ?, NULL, ?)",
                     [(i, i + 1, json.dumps({"val/acc": v})) for i, v in enumerate((0.5, 0.4))])
    conn.execute("INSERT INTO sweep_trials VALUES ('sw1', 1, 'c1', 1, '{\"lr\": 0.1}', 'early_terminated', 2, 3,"
                 " 0.5, '[0.5, 0.4]', 1.0, 9.0)")
    conn.execute("INSERT INTO sweep_trials VALUES ('sw1', 2, '', NULL, '{\"lr\": 0.2}', 'pending', NULL, NULL,"
                 " NULL, '[]', 2.0, NULL)")
    conn.commit()
    conn.close()


def _raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_version_2_store_moves_results_into_columns_and_sweep_trials_into_a_view(tmp_path):
    path = store_path(tmp_path, "exp")
    _version_2_store(path)
    old = Store.open_readonly(path)  # read as it is, before anything is migrated
    assert old.attempts()[0].result == RESULT
    old.close()

    with Store.open(path, experiment="exp") as store:
        assert store.meta("schema_version") == "4"
        attempt = store.attempts()[0]
        assert attempt.result == check_result(RESULT, "r").to_dict()  # the same result, read from columns
        assert attempt.wandb_run_id == "run-handed" and attempt.duration_s == 8.0  # the runner's own facts kept
        trials = SweepState(store).trials("sw1")
    assert _raw(path, "SELECT result, child_status, child_duration_s, child_run_id FROM attempts") == [
        ('{"batch": 16}', "early_terminated", 7.5, "run-reported")]  # the blob keeps what has no column
    assert [(t.trial, t.status, t.attempt_id, t.epochs_run, t.epochs_saved, t.best_metric, t.history)
            for t in trials] == [(1, "early_terminated", 1, 2, 3, 0.5, [0.5, 0.4]),
                                 (2, "pending", None, None, None, None, [])]
    assert _raw(path, "SELECT type FROM sqlite_master WHERE name = 'sweep_trials'") == [("view",)]
    with Store.open(path, experiment="exp") as again:  # opening twice changes nothing more
        assert again.attempts()[0].result == attempt.result and len(SweepState(again).trials("sw1")) == 2
    with Store.open_readonly(path) as summary_store:  # the report still sees which trial made the cell
        (record,) = read_cells(summary_store)
    assert record.sweep is not None and (record.sweep.sweep_id, record.sweep.trial) == ("sw1", 1)
    assert record.latest is not None and record.latest.result["batch"] == 16


def test_a_finished_attempt_stores_its_result_once(tmp_path):
    from hyperparameter_system.matrix.cell import Cell

    path = store_path(tmp_path, "exp")
    with Store.open(path, experiment="exp") as store:
        store.register_cells([Cell(cell_id="c1", experiment="exp", model="m", category="optimizer", option={},
                                   option_label="a", run_name="opt_a", project="m", group="optimizer", tags=(),
                                   config_path="/c.yaml")])
        attempt = store.claim("c1", session="s")
        assert attempt is not None
        result = check_result({**RESULT, "status": "completed"}, "r").to_dict()
        store.finish_attempt(attempt.id, "completed", best_metric=0.5, result=result)
        assert store.attempts()[0].result == result
    assert _raw(path, "SELECT result, best_metric, goal, final_metrics FROM attempts") == [
        ('{"batch": 16}', 0.5, "maximize", '{"val/acc": 0.4}')]


def test_a_store_from_a_newer_version_is_refused_and_left_as_it_was(tmp_path):
    """A newer hpsys's store may mean what this one cannot read: one line, exit 2, no write.

    The version is compared as a number ("10" is newer than "3"), and a version
    that is not a number counts as newer.
    """
    import subprocess
    import sys

    experiment = tmp_path / "exp.yaml"
    experiment.write_text("experiment:\n  name: newer\n  output_dir: ./out\n  temp_config_dir: ./tc\n"
                          "models: [{name: small_cnn}]\ncategories:\n  optimizer: {options: [{name: SGD, lr: 0.1}]}\n")
    path = store_path(tmp_path / "out", "newer")
    Store.open(path, experiment="newer", metric="val/acc", goal="maximize").close()
    for version in ("10", "4x"):
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
        before = _dump(path)
        for action in ("--summary", "--matrix", "--all"):
            done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                                   str(experiment), action], cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 2, (version, action, done.stdout, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "written by a newer hpsys" in lines[0], (version, action, done.stderr)
            assert _dump(path) == before, (version, action)


def _dump(path: Path) -> str:
    """The store's whole content as SQL (its own WAL included), to see that nothing was written."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()
