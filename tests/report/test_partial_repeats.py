"""``--summary`` of a repeated matrix whose runner was killed with -9 part-way.

The store is the one ``--repeats 3`` makes (three cells per option, repeat
0..2), filled through the store's own API: five repeats finished, one was
running when a real second process holding it got SIGKILL, the rest never
started. The summary is taken through the real CLI, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.report.fmt import UNTESTED
from hyperparameter_system.store import Store, store_path
from report_stores import start_standin, write_experiment

REPEATS = 3
# Finished repeats: the baseline once, AdamW twice, SGD and focal once each (five in all).
FINISHED = {("baseline", 0): 0.70, ("AdamW", 0): 0.90, ("AdamW", 1): 0.92,
            ("SGD", 0): 0.60, ("focal", 0): 0.75}
OPTIONS = {"baseline": "baseline", "AdamW": "optimizer", "SGD": "optimizer", "focal": "loss_function"}


def _cell(label: str, repeat: int) -> Cell:
    category = OPTIONS[label]
    suffix = f"_r{repeat}" if repeat else ""
    return Cell(cell_id=f"{label}{suffix}", experiment="partial", model="small_cnn", category=category,
                option=None if category == "baseline" else {"name": label}, option_label=label,
                run_name=f"{category}_{label}{suffix}", project="small_cnn", group=category, tags=(),
                config_path=f"/nonexistent/{label}{suffix}.yaml", repeat=repeat, seed=42 + repeat)


def _fill(root: Path, repeats: int) -> Path:
    """The store after a kill -9: FINISHED done, baseline repeat 1 interrupted, the rest pending."""
    config = write_experiment(root, "partial", "exp.yaml")
    db = store_path(root / "out", "partial")
    with Store.open(db, experiment="partial") as store:
        store.register_cells([_cell(label, r) for label in OPTIONS for r in range(repeats)])
        for (label, repeat), value in FINISHED.items():
            if repeat >= repeats:
                continue
            attempt = store.claim(_cell(label, repeat).cell_id, session="earlier")
            store.finish_attempt(attempt.id, "completed", best_metric=value, best_epoch=2,
                                 epochs_run=2, metric="val/acc")
    if repeats > 1:
        holder = start_standin(db, "baseline_r1")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    return config


def _summary(config: Path, *flags: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(config), "--summary", *flags],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fill(tmp_path_factory.mktemp("partial"), REPEATS)


def test_best_is_taken_over_the_repeats_that_finished(killed):
    table = _summary(killed)
    assert "none finished yet" not in table
    assert "best: optimizer / AdamW (val/acc 0.9100 \u00b1 0.0141, n 2," in table
    cells = {c["option_label"]: c for c in json.loads(_summary(killed, "--format", "json"))["models"][0]["cells"]}
    assert cells["AdamW"]["is_best_of_model"] and cells["AdamW"]["is_best_in_category"]
    assert cells["focal"]["is_best_in_category"] and cells["baseline"]["status"] == "interrupted"


def test_planned_repeats_say_how_many_finished_not_one_run_per_option(killed):
    for text in (_summary(killed), _summary(killed, "--format", "md")):
        assert UNTESTED.split(";")[0] not in text and "--repeats) to 2" not in text
        assert "3 runs per option planned, 5 of 12 finished" in text


def test_html_report_carries_the_same_notice_as_the_table(killed, tmp_path: Path):
    one_run = _fill(tmp_path, 1)
    for config, expected in ((one_run, UNTESTED), (killed, "3 runs per option planned, 5 of 12 finished")):
        table, report = _summary(config), _summary(config, "--format", "html")
        notice = next(line for line in table.splitlines() if expected in line)
        assert report.count(notice) == 1 and table.count(notice) == 1
