"""Environment errors are one line: full disks, read-only folders, files where folders belong.

Real CLI processes, real SQLite, real file systems: a 2 MiB tmpfs filled up or
remounted read-only (mounting needs root, as on CI; skipped cleanly elsewhere).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fault_setup import (cli, cli_argv, completed_attempts, fill, summary, tmpfs,  # noqa: F401
                         wait_for, write_experiment)

from hyperparameter_system.store import Store, store_path

NO_SPACE = "No space left on device"


def _one_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def test_output_dir_that_is_a_file_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder\n")
    config = write_experiment(tmp_path, out=taken)
    _one_line(cli(config, "--all"), f"output_dir: {taken} is a file, not a folder")
    assert not (tmp_path / "configs").exists() and taken.read_text() == "a file, not a folder\n"


def test_temp_config_dir_that_is_a_file_is_one_line_for_run_and_dry_run(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    config = write_experiment(tmp_path, configs=taken / "sub")
    for command in ("--all", "--dry-run"):
        _one_line(cli(config, command), f"temp_config_dir: {taken} is a file, not a folder")
    assert not (tmp_path / "out").exists()


def test_read_only_output_dir_is_one_line_for_a_run_and_readable_for_reports(tmp_path: Path, tmpfs: Path) -> None:
    config = write_experiment(tmp_path, out=tmpfs, epochs=1)
    assert cli(config, "--all").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    before = sorted(p.name for p in (tmpfs / "st").iterdir())
    _one_line(cli(config, "--all"), f"output_dir: {tmpfs / 'st'} is not writable (read-only file system)")
    for command in ("--summary", "--best", "--matrix"):  # reading needs no write access
        done = cli(config, command)
        assert done.returncode == 0 and not done.stderr, (command, done.stdout + done.stderr)
    assert summary(config)["status_counts"].get("completed")
    assert sorted(p.name for p in (tmpfs / "st").iterdir()) == before


def test_reports_and_plans_write_nothing_beside_the_store(tmp_path: Path) -> None:
    config = write_experiment(tmp_path, epochs=1)
    assert cli(config, "--all").returncode == 0
    db = store_path(tmp_path / "out", "st")
    before = (sorted(p.name for p in db.parent.iterdir()), db.read_bytes())
    for command in ("--summary", "--best", "--matrix", "--dry-run"):
        assert cli(config, command).returncode == 0, command
    assert (sorted(p.name for p in db.parent.iterdir()), db.read_bytes()) == before


def test_read_only_store_file_is_one_line_and_nothing_is_written_beside_it(tmp_path: Path) -> None:
    config = write_experiment(tmp_path)
    db = store_path(tmp_path / "out", "st")
    with Store.open(db, experiment="st"):
        pass
    if subprocess.run(["mount", "--bind", str(db), str(db)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount the store read-only here (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(db)], check=True)
        _one_line(cli(config, "--all"), f"{db}: the store is read-only (read-only file system)")
        assert cli(config, "--summary").returncode == 0  # reading it needs no write access
        assert sorted(p.name for p in db.parent.iterdir()) == ["results.sqlite"]
    finally:
        subprocess.run(["umount", "-l", str(db)], capture_output=True)


def test_store_disk_full_before_the_run_is_one_line(tmp_path: Path, tmpfs: Path) -> None:
    config = write_experiment(tmp_path, out=tmpfs)
    fill(tmpfs)
    _one_line(cli(config, "--all"), str(store_path(tmpfs, "st")), "disk full")


def test_store_disk_full_mid_run_stops_children_and_keeps_finished_rows(tmp_path: Path, tmpfs: Path) -> None:
    config = write_experiment(tmp_path, out=tmpfs, epochs=3, sleep=0.7)
    db = store_path(tmpfs, "st")
    runner = subprocess.Popen(cli_argv(config, "--all"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        wait_for(lambda: completed_attempts(db) >= 1, "the first completed attempt")
        filler = fill(tmpfs)
        stdout, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 2, stdout + stderr
    assert stderr.count("\n") == 1 and str(db) in stderr and "disk full" in stderr, stderr
    assert "done:" not in stdout  # the run stopped there; the running cells were stopped with it
    filler.unlink()
    assert summary(config)["status_counts"].get("completed", 0) >= 1  # finished work survived


def test_children_on_a_full_disk_say_so_in_their_error(tmp_path: Path, tmpfs: Path) -> None:
    config = write_experiment(tmp_path)
    project = tmp_path / "out" / "st" / "fake_model"  # the attempt folders; the store stays on the big disk
    project.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(tmpfs), str(project)], check=True)
    try:
        fill(project, leave_bytes=8192)
        done = cli(config, "--all")
        assert done.returncode == 1, done.stdout + done.stderr
        with Store.open(store_path(tmp_path / "out", "st")) as store:
            attempts = store.attempts()
        assert len(attempts) == 8 and {a.status for a in attempts} == {"failed"}
        assert all(NO_SPACE in (a.error_tail or "") for a in attempts), [a.error_tail for a in attempts]
    finally:
        subprocess.run(["umount", "-l", str(project)], capture_output=True)
