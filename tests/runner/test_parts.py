"""Pure parts of the runner: argv templating, slots, ETA, metric patterns."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hyperparameter_system.errors import HpsysError
from hyperparameter_system.runner import attempt_dir, build_argv, eta_seconds, format_eta, make_slots, read_outcome


def test_builtin_trainer_argv_carries_config_and_retry_overrides_not_the_output_dir(harness) -> None:
    import dataclasses

    cell = dataclasses.replace(harness.cell("a"), command=None)
    argv = build_argv(cell, Path("/o"), (("DATALOADER.BATCH_SIZE", 16), ("SOLVER.GRAD_ACCUM", 2)))
    assert argv == [sys.executable, "-m", "hyperparameter_system.train", "--config-file", cell.config_path,
                    "DATALOADER.BATCH_SIZE", "16", "SOLVER.GRAD_ACCUM", "2"]
    assert "OUTPUT_DIR" not in argv, "the attempt folder has one channel: HPS_OUTPUT_DIR in the environment"


def test_user_command_expands_overrides_and_never_goes_through_a_shell(harness) -> None:
    import dataclasses

    cell = dataclasses.replace(
        harness.cell("a"), overrides=(("SOLVER.BASE_LR", 0.01), ("MODEL.NAME", "x; rm -rf ~")),
        command=("{{ python }}", "train.py", "--config_file={{ config_path }}", "{{ overrides }}",
                 "--name", "{{ run_name }}-{{ cell_id }}"))
    argv = build_argv(cell, Path("/o"), (("DATALOADER.BATCH_SIZE", 8),))
    argv = argv[argv.index("--") + 1:]  # the user's own argv, after the wrapper's
    assert argv == [sys.executable, "train.py", f"--config_file={cell.config_path}", "SOLVER.BASE_LR", "0.01",
                    "MODEL.NAME", "x; rm -rf ~", "DATALOADER.BATCH_SIZE", "8", "--name",
                    "opt_a_2601010000-cell-a"]


def test_unknown_template_variable_is_a_user_error(harness) -> None:
    import dataclasses

    cell = dataclasses.replace(harness.cell("a"), command=("python", "{{ confg_path }}"))
    with pytest.raises(HpsysError, match="confg_path"):
        build_argv(cell, Path("/o"))


def test_output_dirs_cannot_escape_the_output_root(harness) -> None:
    import dataclasses

    cell = dataclasses.replace(harness.cell("a"), project="../../etc", run_name="../passwd")
    path = attempt_dir(Path("/root/out"), cell, 2)
    assert path.resolve().is_relative_to(Path("/root/out")) and path.name == "attempt-2"


def test_slots_split_cpu_threads_and_round_robin_gpus(monkeypatch) -> None:
    assert [s.torch_threads for s in make_slots("cpu", 2, cpu_count=8)] == [4, 4]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # GPUs that exist: missing ones are refused
    assert [s.cuda_visible_devices for s in make_slots("0,1", 3)] == ["0", "1", "0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert [s.label for s in make_slots("auto", 2)] == ["cpu", "cpu"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert [s.cuda_visible_devices for s in make_slots("auto", 2)] == ["2", "3"]
    with pytest.raises(HpsysError, match="--devices"):
        make_slots("gpu0", 1)


def test_eta_uses_per_model_history_and_parallel_slots() -> None:
    history = {"small": [10.0, 10.0, 30.0], "big": [100.0]}
    assert eta_seconds({}, ["small"]) is None
    assert eta_seconds(history, ["small"] * 4, parallel=1) == 40.0
    assert eta_seconds(history, ["small"] * 4, parallel=2) == 20.0
    assert eta_seconds(history, ["big", "small"], parallel=2, running_elapsed=[("big", 90.0)]) == 100.0
    assert eta_seconds(history, ["unknown"]) == pytest.approx(20.0)  # median over all models
    assert format_eta(3725) == "1h02m" and format_eta(65) == "1m05s" and format_eta(None) == "?"


def test_metric_patterns_give_final_best_and_history(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    log.write_text("epoch 1\nmAP: 20.5%\nCMC curve, Rank-1  :30.0%\nepoch 2\nmAP: 35.0%\n"
                   "CMC curve, Rank-1  :40.0%\nepoch 3\nmAP: 31.3%\nCMC curve, Rank-1  :33.3%\n")
    patterns = (("mAP", r"mAP: ([0-9.]+)%"), ("rank1", r"Rank-1\s*:([0-9.]+)%"))
    out = read_outcome(tmp_path, log, 0, metric="mAP", goal="maximize", patterns=patterns)
    assert out.status.value == "completed" and out.best_metric == 35.0 and out.best_epoch == 2
    assert out.final_metric == 31.3 and out.epochs_run == 3
    assert out.history[0].as_line() == {"epoch": 1, "mAP": 20.5, "rank1": 30.0}
    low = read_outcome(tmp_path, log, 0, metric="mAP", goal="minimize", patterns=patterns)
    assert low.best_metric == 20.5
