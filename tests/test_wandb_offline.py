"""Reading W&B offline runs written by real wandb (offline mode) back from their .wandb files."""

from __future__ import annotations

import shutil

import pytest

from hyperparameter_system.errors import HpsysError
from hyperparameter_system.tracking.offline import read_offline_run
from wandb_runs import find_offline_runs, wait_for_offline_run


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """One real offline run: a config bigger than a 32 KiB block, 400 history rows, a summary."""
    import wandb

    root = tmp_path_factory.mktemp("wandb_root")
    big = "x" * 70_000  # spans three blocks: FIRST, MIDDLE and LAST chunks
    run = wandb.init(project="resnet50_tv2_in1k", name="opt_SGD_lr0.1_2607091200", group="optimizer",
                     tags=["optimizer", "resnet50"], dir=str(root), mode="offline",
                     config={"SOLVER": {"BASE_LR": 0.1}, "NOTE": big})
    for step in range(400):
        run.log({"train/loss": 1.0 / (step + 1), "epoch": step // 100})
    run.summary["best/val/acc"] = 0.93
    run_id = run.id
    run.finish()
    # W&B's service may still be writing the file: every test reads a complete one.
    assert all(wait_for_offline_run(d).finished for d in find_offline_runs(root))
    return root, run_id


def test_find_and_read_back_everything(offline_run):
    root, run_id = offline_run
    dirs = find_offline_runs(root)
    assert len(dirs) == 1 and dirs[0].name.endswith(run_id)
    run = read_offline_run(dirs[0])
    assert (run.project, run.name, run.group, run.tags, run.run_id) == (
        "resnet50_tv2_in1k", "opt_SGD_lr0.1_2607091200", "optimizer", ["optimizer", "resnet50"], run_id)
    assert run.config["SOLVER"] == {"BASE_LR": 0.1} and len(run.config["NOTE"]) == 70_000
    assert [row["_step"] for row in run.history] == list(range(400))
    assert [row["train/loss"] for row in run.history] == pytest.approx([1.0 / (s + 1) for s in range(400)])
    assert run.summary["best/val/acc"] == 0.93
    assert run.summary["train/loss"] == pytest.approx(1.0 / 400)


def test_a_torn_file_still_gives_what_was_complete(offline_run, tmp_path):
    root, _ = offline_run
    source = find_offline_runs(root)[0]
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    wandb_file = next(copy.glob("run-*.wandb"))
    data = wandb_file.read_bytes()
    wandb_file.write_bytes(data[: len(data) // 2 + 13])  # a kill -9 mid-write
    run = read_offline_run(copy)
    assert run.project == "resnet50_tv2_in1k"
    assert 0 < len(run.history) < 400
    assert [row["_step"] for row in run.history] == list(range(len(run.history)))


def test_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(HpsysError, match="no run-.*wandb file"):
        read_offline_run(tmp_path)
    (tmp_path / "run-x.wandb").write_bytes(b"not a wandb file")
    with pytest.raises(HpsysError, match="not a W&B run file"):
        read_offline_run(tmp_path)
    assert find_offline_runs(tmp_path / "missing") == []
