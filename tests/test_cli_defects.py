"""What a new user trips over first: two actions at once, GPUs that are not there,
plans that name runs differently from the run, dry runs that pile up configs.

Real CLI processes on an experiment of fast fake children (reliability/fault_setup.py).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path
from reliability.fault_setup import cli, write_experiment

OLD = datetime(2026, 1, 2, 3, 4)  # a store created long ago: its runs are named ..._2601020304
STAMP = re.compile(r"_(\d{10})\.yaml$")


@pytest.fixture(autouse=True)
def no_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B off, as the experiment file says: ``WANDB_MODE`` (offline, suite-wide) would win over the file.

    Nothing here reads a W&B run; offline, every fake cell would import wandb and write a run.
    """
    monkeypatch.setenv("WANDB_MODE", "disabled")


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("flags", [("--sweep", "--matrix"), ("--matrix", "--summary"),
                                   ("--dry-run", "--best")])
def test_two_actions_are_refused_naming_both_and_nothing_is_written(tmp_path, flags):
    config = write_experiment(tmp_path)
    before = _tree(tmp_path)
    done = cli(config, *flags, "--all")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and all(flag in lines[0] for flag in flags), done.stderr
    assert "cannot be combined" in lines[0] and not done.stdout
    assert _tree(tmp_path) == before


def test_repeats_with_a_sweep_is_refused_rather_than_ignored(tmp_path):
    config = write_experiment(tmp_path)
    before = _tree(tmp_path)
    done = cli(config, "--sweep", "--models", "small_cnn", "--repeats", "3")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == ["error: --repeats does not apply to --sweep: each sweep trial trains once"]
    assert _tree(tmp_path) == before


def test_devices_naming_missing_gpus_are_refused_and_auto_falls_back_to_the_cpu(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    config = write_experiment(tmp_path)
    done = cli(config, "--all", "--devices", "97,98")  # no machine has GPUs 97 and 98
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "no GPU 97, 98 on this machine" in lines[0], done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "configs").exists()

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the usual way to hide every GPU
    done = cli(config, "--all", "--devices", "auto")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 slot(s) [cpu, cpu]" in done.stdout


def test_matrix_shows_the_run_names_of_an_existing_store_and_writes_nothing(tmp_path):
    config = write_experiment(tmp_path)
    done = cli(config, "--matrix")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out").exists()  # a missing store is not created by a plan

    path = store_path(tmp_path / "out", "st")
    Store.open(path, experiment="st", created_at=OLD).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    stat = path.stat()
    before = path.read_bytes()
    done = cli(config, "--matrix")
    assert done.returncode == 0, done.stderr
    names = re.findall(r"\b(?:base|opt)_\S+_(\d{10})\b", done.stdout)
    assert len(names) == 4 and set(names) == {"2601020304"}, done.stdout  # the names the run will use
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.sqlite"]  # no -wal, -shm or journal


def test_dry_run_replaces_its_configs_instead_of_adding_a_generation(tmp_path):
    config = write_experiment(tmp_path)
    rendered = tmp_path / "configs" / "st" / "fake_model"
    assert cli(config, "--dry-run").returncode == 0
    first = sorted(p.name for p in rendered.glob("*.yaml"))
    assert len(first) == 4

    # A store appears (a run started): its creation time, not the first dry run's minute, names the runs.
    Store.open(store_path(tmp_path / "out", "st"), experiment="st", created_at=OLD).close()
    done = cli(config, "--dry-run")
    assert done.returncode == 0, done.stderr
    second = sorted(p.name for p in rendered.glob("*.yaml"))
    assert len(second) == 4 and {STAMP.search(n).group(1) for n in second} == {"2601020304"}, second
    assert sorted(p.name for p in rendered.iterdir()) == second  # the first generation is gone, no temp left
    assert cli(config, "--dry-run").returncode == 0  # again: the same files, rewritten in place
    assert sorted(p.name for p in rendered.glob("*")) == second
    assert os.access(rendered / second[0], os.R_OK)


def test_the_run_replaces_the_files_of_a_dry_run_made_before_it(tmp_path):
    config = write_experiment(tmp_path)
    rendered = tmp_path / "configs" / "st" / "fake_model"
    assert cli(config, "--dry-run").returncode == 0
    # The run starts in another minute than the dry run (here: its store was made long ago).
    Store.open(store_path(tmp_path / "out", "st"), experiment="st", created_at=OLD).close()
    done = cli(config, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.name for p in rendered.glob("*.yaml"))
    assert len(names) == 4 and {STAMP.search(n).group(1) for n in names} == {"2601020304"}, names
