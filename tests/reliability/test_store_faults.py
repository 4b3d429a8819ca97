"""The results store lost or damaged: during a run, under every command, and rebuilt.

Real CLI processes over fake children (real subprocesses honouring the child
contract) and a real SQLite store, deleted or replaced from outside like a
user's ``rm`` would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fault_setup import (cli, cli_argv, completed_attempts, summary, tmpfs,  # noqa: F401
                         wait_for, write_experiment)

from hyperparameter_system.store import store_path

# What a rebuilt store's summary may legitimately show differently: the time the
# summary was generated. Everything else (cells, statuses, attempts, best metrics,
# durations, errors, the reproduce line with its launch environment) comes back as
# it was, from attempt.json, result.json and metrics.jsonl.
_DIFFERS = ("generated_at",)


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _DIFFERS}




def _attempt_folders(config: Path) -> list[Path]:
    return sorted((config.parent / "out" / "st").glob("*/*/attempt-*"))


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_store_lost_mid_run_stops_children_exit_2_then_rebuild_and_resume(tmp_path: Path, how: str) -> None:
    config = write_experiment(tmp_path, epochs=3, sleep=0.7)
    db = store_path(tmp_path / "out", "st")
    runner = subprocess.Popen(cli_argv(config, "--all"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        wait_for(lambda: completed_attempts(db) >= 1, "the first completed attempt")
        db.unlink()
        if how == "replaced":
            db.write_text("this is not a store\n")
        stdout, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 2, stdout + stderr
    assert stderr.count("\n") == 1 and str(db) in stderr and ("vanished" if how == "deleted" else "replaced") in stderr
    assert "stopping" in stdout and "done:" not in stdout
    # The runner reaped every child before it exited: each attempt's record holds its outcome.
    folders = _attempt_folders(config)
    outcomes = [json.loads((f / "attempt.json").read_text())["outcome"] for f in folders]
    assert folders and all(outcomes), outcomes
    statuses = sorted(o["status"] for o in outcomes)
    assert "completed" in statuses and "stopped" in statuses

    rebuilt = cli(config, "--rebuild-store")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"{len(folders)} attempt(s)" in rebuilt.stdout
    if how == "replaced":
        assert "kept as" in rebuilt.stdout and list(db.parent.glob("results.sqlite.damaged-*"))
    counts = summary(config)["status_counts"]
    assert counts.get("completed", 0) == statuses.count("completed") and counts.get("stopped")
    if how == "replaced":
        return  # resuming a rebuilt store is the same either way; the deleted case shows it

    resumed = cli(config, "--all")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("skip") == statuses.count("completed")  # finished work is not redone
    assert summary(config)["status_counts"] == {"completed": 4}


def test_rebuilt_store_gives_the_same_summary(tmp_path: Path) -> None:
    config = write_experiment(tmp_path, crash_attempts=1)  # every cell fails once, then completes
    done = cli(config, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    before = summary(config)
    db = store_path(tmp_path / "out", "st")
    for side in ("", "-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    gone = cli(config, "--summary")  # the store is gone, its attempt folders are not: the way back is named...
    assert gone.returncode == 2 and "hpsys --rebuild-store" in gone.stderr and gone.stderr.count("\n") == 1
    rebuilt = cli(config, "--rebuild-store")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "4 cell(s), 8 attempt(s)" in rebuilt.stdout
    after = summary(config)
    assert _comparable(after) == _comparable(before)  # ...and comes back whole
    again = cli(config, "--rebuild-store")
    assert again.returncode == 2 and "readable" in again.stderr and again.stderr.count("\n") == 1

    db.unlink()  # a damaged record is skipped with its reason; the other folders still count
    broken = _attempt_folders(config)[0] / "attempt.json"
    broken.write_text('{"format": 1, "cell": {"cell_id": 7}}')
    partial = cli(config, "--rebuild-store")
    assert partial.returncode == 0, partial.stderr
    assert f"skipped {broken}: cell.cell_id: missing or not text" in partial.stdout
    assert "7 attempt(s)" in partial.stdout


@pytest.mark.parametrize("command", [
    ["--all"], ["--matrix"], ["--dry-run"], ["--summary"], ["--best"],
    ["--sweep", "--models", "fake_model", "--categories", "optimizer", "--count", "1"],
])
def test_garbage_store_is_one_line_and_exit_2_for_every_command(tmp_path: Path, command: list[str]) -> None:
    config = write_experiment(tmp_path)
    db = store_path(tmp_path / "out", "st")
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage, not SQLite\n" * 10)
    done = cli(config, *command)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"{db}: not a readable results store" in done.stderr and "--rebuild-store" in done.stderr
    assert db.read_bytes() == b"garbage, not SQLite\n" * 10
    assert not _attempt_folders(config)


def test_rebuild_without_attempt_folders_is_one_line(tmp_path: Path) -> None:
    config = write_experiment(tmp_path)
    done = cli(config, "--rebuild-store")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "attempt.json" in done.stderr
    assert not store_path(tmp_path / "out", "st").exists()


def test_rebuild_reads_attempt_folders_guarded_and_cleans_killed_rebuilds(tmp_path: Path) -> None:
    """A FIFO would hang the rebuild in open(), a link to /dev/zero would fill its memory."""
    config = write_experiment(tmp_path, epochs=1)
    assert cli(config, "--all").returncode == 0
    db = store_path(tmp_path / "out", "st")
    db.unlink()
    fifo_record, zero_record, fifo_result, good = _attempt_folders(config)
    (fifo_record / "attempt.json").unlink()
    os.mkfifo(fifo_record / "attempt.json")
    (zero_record / "attempt.json").unlink()
    os.symlink("/dev/zero", zero_record / "attempt.json")
    (fifo_result / "result.json").unlink()
    os.mkfifo(fifo_result / "result.json")
    dead = subprocess.Popen(["true"])  # a rebuild killed earlier: its process is gone
    dead.wait()
    leftovers = [db.with_name(f".results.sqlite.rebuild-{dead.pid}{side}") for side in ("", "-wal", "-shm")]
    for leftover in leftovers:
        leftover.write_bytes(b"half a store")
    rebuilt = cli(config, "--rebuild-store", timeout=60)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert f"skipped {fifo_record / 'attempt.json'}: not a regular file (a FIFO)" in rebuilt.stdout
    assert f"skipped {zero_record / 'attempt.json'}: a symbolic link" in rebuilt.stdout
    assert "2 attempt(s)" in rebuilt.stdout
    assert not [p for p in leftovers if p.exists()]


def test_rebuild_in_a_read_only_folder_is_one_line(tmp_path: Path, tmpfs: Path) -> None:
    config = write_experiment(tmp_path, out=tmpfs, epochs=1)
    assert cli(config, "--all").returncode == 0
    store_path(tmpfs, "st").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    done = cli(config, "--rebuild-store")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{tmpfs / 'st'}: cannot rebuild the store there (read-only file system)" in done.stderr


def test_a_store_swapped_in_mid_run_is_never_written(tmp_path: Path) -> None:
    """SQLite's -wal and -shm live by name beside the path: the runner's must never reach the new file."""
    (tmp_path / "other").mkdir()
    other_config = write_experiment(tmp_path / "other", epochs=1)
    assert cli(other_config, "--all").returncode == 0
    other = store_path(tmp_path / "other" / "out", "st")
    config = write_experiment(tmp_path, epochs=3, sleep=0.7)
    db = store_path(tmp_path / "out", "st")
    runner = subprocess.Popen(cli_argv(config, "--all"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        wait_for(lambda: completed_attempts(db) >= 1, "the first completed attempt")
        staged = db.with_name("staged.sqlite")
        shutil.copyfile(other, staged)
        replacement = staged.read_bytes()
        os.replace(staged, db)
        stdout, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 2 and "replaced" in stderr, stdout + stderr
    assert db.read_bytes() == replacement  # not one byte of the run went into it
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    assert summary(other_config)["status_counts"] == summary(config)["status_counts"]
    assert "move it away, then `hpsys --rebuild-store`" in stderr
    os.replace(db, tmp_path / "moved.sqlite")  # the advice works
    rebuilt = cli(config, "--rebuild-store")
    assert rebuilt.returncode == 0 and "rebuilt" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
