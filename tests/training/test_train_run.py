"""End-to-end runs of the built-in trainer on real digits: results, files, errors."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from hyperparameter_system import child_contract as cc
from hyperparameter_system.train import main

from train_helpers import REPO, child_env, start_child


def test_small_cnn_learns_digits_in_two_epochs(train_run):
    run = train_run({"INPUT.SIZE": 16, "DATALOADER.BATCH_SIZE": 64, "CHECKPOINT.ENABLE": True})
    assert run.code == cc.EXIT_OK
    result = run.result
    assert set(result) == set(cc.RESULT_KEYS)
    assert result["status"] == "completed" and result["error"] is None
    assert result["best_metric"] > 0.80, result
    assert result["epochs_run"] == 2 and result["samples_per_s"] > 0
    lines = run.metrics
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert set(cc.METRICS_LINE_KEYS) <= set(line)
        assert {"val/acc", "val/loss", "val/f1", "train/loss", "train/acc"} <= set(line)
    best = max(lines, key=lambda line: line["val/acc"])
    assert result["best_metric"] == best["val/acc"] and result["best_epoch"] == best["epoch"]
    assert result["final_metrics"]["val/acc"] == lines[-1]["val/acc"]
    assert lines[-1]["step"] == 2 * 23  # 1437 training digits in batches of 64
    assert "epoch 2" in run.log
    checkpoints = sorted(p.name for p in (run.out / "checkpoints").iterdir())
    assert any(n.startswith("best_model_") and "val_acc" in n for n in checkpoints)
    assert any(n.startswith("last_checkpoint_") for n in checkpoints)


def test_same_config_twice_gives_identical_metrics(train_run):
    augment = {"INPUT.RANDOM_RESIZED_CROP": True, "INPUT.HFLIP_PROB": 0.5, "INPUT.ROTATION_DEG": 10.0,
               "DATASETS.MAX_TRAIN_SAMPLES": 256}  # a seeded subset: every draw still counts, 5x less to train
    first, second = train_run(augment), train_run(augment)
    other_seed = train_run({**augment, "SEED": 7})

    def strip(lines):
        return [{k: v for k, v in line.items() if k != "elapsed_s"} for line in lines]

    assert strip(first.metrics) == strip(second.metrics)
    assert strip(first.metrics) != strip(other_seed.metrics)


def test_metrics_and_best_follow_a_minimize_metric(train_run):
    run = train_run({"METRIC.NAME": "val/loss", "METRIC.GOAL": "minimize", "DATASETS.MAX_TRAIN_SAMPLES": 256})
    losses = [line["val/loss"] for line in run.metrics]
    assert run.result["metric"] == "val/loss" and run.result["goal"] == "minimize"
    assert run.result["best_metric"] == min(losses)


def test_absurd_learning_rate_ends_nonfinite_with_exit_3(train_run):
    run = train_run({"SOLVER.OPTIMIZER": "SGD", "SOLVER.BASE_LR": 1e6})
    assert run.code == cc.EXIT_NONFINITE
    assert run.result["status"] == "nonfinite"
    assert "loss became" in run.result["error"]


def test_unknown_key_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["SOLVER.BASE_LRR", "0.1", "OUTPUT_DIR", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == cc.EXIT_CONFIG
    assert len(err.splitlines()) == 1 and "SOLVER.BASE_LRR" in err and "no such config key" in err
    assert not out.exists()


def test_bad_value_in_config_file_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "cell.yaml"
    config.write_text("MODEL:\n  NAME: small_cnn\nSOLVER:\n  BASE_LR: 0.01\n  OPTIMIZER: Adamm\n")
    code = main(["--config-file", str(config), "OUTPUT_DIR", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == cc.EXIT_CONFIG
    assert f"{config}:5: SOLVER.OPTIMIZER: must be one of AdamW, Adam, SGD, got 'Adamm'" in err
    assert not (tmp_path / "out").exists()


def test_bad_command_line_value_is_not_blamed_on_the_config_file(tmp_path, capsys):
    config = tmp_path / "cell.yaml"
    config.write_text("SOLVER:\n  OPTIMIZER: SGD\n")
    code = main(["--config-file", str(config), "SOLVER.OPTIMIZER", "Adamm", "OUTPUT_DIR", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == cc.EXIT_CONFIG
    assert err == "error: <command line>: SOLVER.OPTIMIZER: must be one of AdamW, Adam, SGD, got 'Adamm'"


def test_unknown_model_is_a_user_error(tmp_path, capsys):
    code = main(["MODEL.NAME", "'resnet5O'", "OUTPUT_DIR", str(tmp_path / "out")])
    assert code == cc.EXIT_CONFIG
    assert "Unknown model 'resnet5O'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_config_file_output_dir_command_line_and_env_precedence(tmp_path, monkeypatch):
    config = tmp_path / "cell.yaml"
    config.write_text(f"OUTPUT_DIR: {tmp_path / 'from_file'}\nINPUT:\n  SIZE: 8\nSOLVER:\n  MAX_EPOCHS: 1\n")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    base = ["--config-file", str(config), "CHECKPOINT.ENABLE", "False", "DATASETS.MAX_TRAIN_SAMPLES", "200"]
    assert main(base) == 0
    assert (tmp_path / "from_file" / cc.RESULT_FILE).exists()
    assert main([*base, "OUTPUT_DIR", str(tmp_path / "from_cli")]) == 0
    result = json.loads((tmp_path / "from_cli" / cc.RESULT_FILE).read_text())
    assert result["config_path"] == str(config.resolve())
    monkeypatch.setenv(cc.ENV_OUTPUT_DIR, str(tmp_path / "from_env"))
    assert main([*base, "OUTPUT_DIR", str(tmp_path / "ignored")]) == 0
    assert (tmp_path / "from_env" / cc.RESULT_FILE).exists() and not (tmp_path / "ignored").exists()


def test_child_process_trains_digits_without_torchvision_or_timm(tmp_path):
    """The digits path must not pay torchvision's / timm's import time in every cell."""
    code = (
        "import sys, torch; from hyperparameter_system.train import main; rc = main(sys.argv[1:]); "
        "print('heavy:', sorted(m for m in ('torchvision', 'timm') if m in sys.modules)); "
        "print('threads:', torch.get_num_threads()); sys.exit(rc)"
    )
    out = tmp_path / "child"
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", code, "INPUT.SIZE", "8", "SOLVER.MAX_EPOCHS", "1", "OUTPUT_DIR", str(out)],
        cwd=REPO, env=child_env(HPS_TORCH_THREADS="3"), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout
    assert "threads: 3" in proc.stdout  # HPS_TORCH_THREADS
    assert json.loads((out / cc.RESULT_FILE).read_text())["status"] == "completed"


def test_sigterm_mid_training_stops_cleanly_with_exit_5(tmp_path):
    out = tmp_path / "stopped"
    result = _stopped_run(out, lambda child: _wait_for_first_evaluation(out / cc.METRICS_FILE, child), within_s=60)
    assert 1 <= result["epochs_run"] < 200 and result["best_metric"] is not None
    assert set(result) == set(cc.RESULT_KEYS)


def test_sigterm_during_start_up_stops_before_any_training(tmp_path):
    """A cell stopped while it still imports (a cold start: seconds) ends as soon as it can, without
    building the model or taking a step, instead of training on until the runner's grace runs out."""
    out = tmp_path / "early"
    _stopped_run(out, _wait_for_stop_handler, within_s=90)  # SIGTERM once the handler is set, imports still going
    assert not cc.read_metrics(out / cc.METRICS_FILE).records
    assert "training small_cnn" not in (out / cc.LOG_FILE).read_text()  # the model was never built


def _stopped_run(out: Path, until, *, within_s: float) -> dict:
    """A long training SIGTERMed once ``until(child)`` returns: it exits 5 within ``within_s`` with a
    ``stopped`` result (returned)."""
    child = start_child({"SOLVER.MAX_EPOCHS": 200, "INPUT.SIZE": 16}, out)
    try:
        until(child)
        child.terminate()  # SIGTERM
        _, stderr = child.communicate(timeout=within_s)
    finally:
        child.kill()
    assert child.returncode == cc.EXIT_STOPPED, stderr
    result = json.loads((out / cc.RESULT_FILE).read_text())
    assert result["status"] == "stopped" and "SIGTERM" in result["error"]
    return result


def _wait_for_stop_handler(child) -> None:
    """Until the child catches SIGTERM (its stop handler is the first thing it sets)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = Path(f"/proc/{child.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.01)
    pytest.fail("the child set no SIGTERM handler within 60 s")


def _wait_for_first_evaluation(metrics: Path, child) -> None:
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if cc.read_metrics(metrics).records:
            return
        if child.poll() is not None:
            pytest.fail(f"child ended early: {child.communicate()[1]}")
        time.sleep(0.1)
    pytest.fail("no evaluation within 90 s")


OOM_PLUGIN = '''
import torch
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.model_spec import ModelSpec


class MemoryBound(torch.nn.Module):
    """Raises CUDA's own out-of-memory error above 32 samples, as a too-small GPU would."""

    def __init__(self, num_classes):
        super().__init__()
        self.fc = torch.nn.Linear(3, num_classes)

    def forward(self, x):
        if x.shape[0] > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fc(x.mean(dim=(2, 3)))


@hookimpl
def register_models(register):
    register(ModelSpec(family="memory_bound", names=lambda: ("memory_bound",),
                       build=lambda name, n, cfg: MemoryBound(n)))
'''


def test_out_of_memory_ends_oom_with_exit_4_naming_the_batch_size(train_run, tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "memory_bound.py").write_text(OOM_PLUGIN)
    monkeypatch.setenv("HPSYS_PLUGIN_PATH", str(plugins))
    run = train_run({"MODEL.NAME": "memory_bound", "DATALOADER.BATCH_SIZE": 64})
    assert run.code == cc.EXIT_OOM
    assert run.result["status"] == "oom"
    assert "DATALOADER.BATCH_SIZE 64" in run.result["error"]
    small = train_run({"MODEL.NAME": "memory_bound", "DATALOADER.BATCH_SIZE": 32, "SOLVER.MAX_EPOCHS": 1})
    assert small.code == 0


def test_a_device_name_torch_does_not_know_is_a_user_error(tmp_path, capsys):
    code = main(["DEVICE", "gpu", "OUTPUT_DIR", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == cc.EXIT_CONFIG
    assert err == "error: DEVICE: 'gpu' is not a device; use auto, cpu, cuda or cuda:N"
    assert not (tmp_path / "out").exists()
