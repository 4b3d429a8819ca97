"""Faults a week-long run meets: kill -9 of the runner, Ctrl-C, two runners, leaked secrets.

Every test runs the runner as its own process (``fakes.py`` as a script) over
fake children that are real subprocesses, and checks from both sides: the
store's attempts and the children's own completion markers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fakes import make_cell, runner_argv, save_cells

from hyperparameter_system.store import Store, store_path


def _matrix(tmp: Path, n: int, **fake: object) -> tuple[Path, Path, list]:
    markers = tmp / "markers"
    markers.mkdir()
    cells = [make_cell(tmp, f"c{i}", {"epochs": 2, "sleep": 0.1, "score": i / 10, "marker_dir": str(markers),
                                      **fake}) for i in range(n)]
    cells_json = tmp / "cells.json"
    save_cells(cells, cells_json)
    return cells_json, markers, cells


def _completed_once(tmp: Path, markers: Path, cells: list) -> None:
    with Store.open(store_path(tmp / "out", "exp")) as store:
        for cell in cells:
            attempts = store.attempts(cell.cell_id)
            done = [a for a in attempts if a.status == "completed"]
            assert len(done) == 1, (cell.cell_id, [a.status for a in attempts])
            lines = (markers / f"{cell.cell_id}.done").read_text().splitlines()
            assert [json.loads(x)["attempt"] for x in lines] == [str(done[0].attempt)]
            assert done[0].best_metric is not None and store.epochs(done[0].id)
            assert not [a for a in attempts if a.status == "running"]


@pytest.mark.slow
def test_kill_9_of_the_runner_at_random_moments_then_resume(tmp_path: Path) -> None:
    cells_json, markers, cells = _matrix(tmp_path, 8)
    argv = runner_argv(cells_json, tmp_path / "out" / "exp", "--parallel", "2")
    rng = random.Random(20261123)
    for _ in range(10):
        runner = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.9))
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    final = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    _completed_once(tmp_path, markers, cells)


def _wait_running(path: Path, count: int, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            with Store.open(path) as store:
                running = [a for a in store.attempts() if a.status == "running" and a.child_pid]
            if len(running) >= count:
                return running
        time.sleep(0.1)
    raise AssertionError("children did not start")


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_sigint_stops_every_child_group_and_records_stopped(tmp_path: Path) -> None:
    polite = make_cell(tmp_path, "polite", {"epochs": 1, "sleep": 60, "grandchild": True})
    stubborn = make_cell(tmp_path, "stubborn", {"epochs": 1, "sleep": 60, "ignore_term": True})
    save_cells([polite, stubborn], tmp_path / "cells.json")
    runner = subprocess.Popen(runner_argv(tmp_path / "cells.json", tmp_path / "out" / "exp", "--grace", "1"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = _wait_running(store_path(tmp_path / "out", "exp"), 2)
    grandchild_file = Path(next(a.output_dir for a in running if a.cell_id == polite.cell_id)) / "grandchild.pid"
    deadline = time.monotonic() + 30
    while not grandchild_file.exists():
        assert time.monotonic() < deadline, "the child never started its grandchild"
        time.sleep(0.05)
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 130, runner.stdout.read()
    for attempt in running:
        assert _gone(attempt.child_pid)  # the child's whole process group is gone
    grandchild = int(grandchild_file.read_text())
    assert not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]
    with Store.open(store_path(tmp_path / "out", "exp")) as store:
        assert {a.status for a in store.attempts()} == {"stopped"}
        polite_result = store.attempts(polite.cell_id)[0].result
        assert polite_result["status"] == "stopped"  # the child stopped itself on SIGTERM


def test_two_concurrent_runners_never_run_a_cell_twice(tmp_path: Path) -> None:
    cells_json, markers, cells = _matrix(tmp_path, 8, sleep=1.0)  # long enough for both to start, even on a loaded machine
    argv = runner_argv(cells_json, tmp_path / "out" / "exp", "--parallel", "2")
    runners = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    assert [r.wait(timeout=120) for r in runners] == [0, 0]
    _completed_once(tmp_path, markers, cells)
    with Store.open(store_path(tmp_path / "out", "exp")) as store:
        assert len({a.runner_pid for a in store.attempts()}) == 2  # both runners did work


def test_api_key_canary_reaches_no_file(tmp_path: Path) -> None:
    canary = "canary-3f9d1c7e5b2a"
    cells_json, _, _ = _matrix(tmp_path, 2)
    failing = make_cell(tmp_path, "bad", {"crash_attempts": 9})
    save_cells([*__import__("fakes").load_cells(cells_json), failing], cells_json)
    env = {**os.environ, "WANDB_API_KEY": canary, "HF_TOKEN": canary}
    done = subprocess.run(runner_argv(cells_json, tmp_path / "out" / "exp", "--retries", "0"),
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == 1
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "results.sqlite" for p in files) and len(files) > 10
    leaks = [p for p in files if canary.encode() in p.read_bytes()]
    assert leaks == []
