"""A user's own command under the wrapper: W&B run, outcomes, signals, import cost.

Every test runs real processes: a small script standing in for a user's
training project (it knows nothing of hpsys, it only prints), the wrapper
``python -m hyperparameter_system.user_command`` and, where it matters, the
real runner and store; W&B runs offline and is read back from its run file.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyperparameter_system import child_contract as cc
from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.user_command import MODULE
from hyperparameter_system.report.gather import read_cells
from hyperparameter_system.runner import PlainProgress, RetryPolicy, RunOptions, Runner, build_argv, make_slots
from hyperparameter_system.store import Store, store_path
from hyperparameter_system.tracking.wandb_run import flatten_config
from wandb_runs import wait_for_offline_run

SCRIPT = r'''
import os, signal, sys, time
mode = sys.argv[1]
print("merged config:", open(sys.argv[2]).read().replace("\n", " "), flush=True)
print("script sees WANDB_MODE", os.environ.get("WANDB_MODE"), flush=True)
if mode == "wait":
    open(sys.argv[3], "w").write(f"{os.getpid()} {os.getpgid(0)}")
    signal.signal(signal.SIGTERM, lambda *_: (print("script got SIGTERM", flush=True), sys.exit(0)))
    while True:
        time.sleep(0.05)
if mode == "usage":  # what argparse does with an argument it does not know
    sys.exit(print("train.py: error: unrecognized arguments: lr 0.1", file=sys.stderr) or 2)
for epoch in (1, 2):
    print(f"Epoch[{epoch}] Iteration[10/10] Loss: 1.2, Acc: 0.5", flush=True)
    if mode != "quiet":
        value = "nan" if mode == "nan" and epoch == 2 else f"{30 + 10 * epoch}.5"
        print(f"Validation Results - Epoch: {epoch}\nmAP: {value}%\nCMC curve, Rank-1  :{50 + epoch}.0%", flush=True)
if mode == "boom":
    raise ValueError("boom")
if mode == "disk":
    raise OSError(28, "No space left on device")
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
'''
PATTERNS = (("mAP", r"mAP: ([0-9.a-z]+)%"), ("rank1", r"CMC curve, Rank-1\s*:([0-9.]+)%"))
CONFIG = {"SOLVER": {"OPTIMIZER_NAME": "Adam", "BASE_LR": 0.00035, "WEIGHT_DECAY": 0.0005},
          "INPUT": {"SIZE_TRAIN": [256, 128]}, "MODEL": {"IF_LABELSMOOTH": "on"}}


def _cell(tmp: Path, mode: str, wandb_logging: str = "runner", **changes: object) -> Cell:
    script = tmp / "train.py"
    script.write_text(SCRIPT)
    config = tmp / "configs" / f"{mode}.yml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump(CONFIG))
    cell = Cell(cell_id=f"cell-{mode}", experiment="exp", model="reid_r50", category="optimizer",
                option={"name": "Adam"}, option_label=f"Adam_{mode}", run_name=f"opt_Adam_{mode}_2611300200",
                project="reid_r50", group="optimizer", tags=("optimizer", "reid"), config_path=str(config),
                command=(sys.executable, str(script), mode, "{{ config_path }}"), metric_patterns=PATTERNS,
                wandb_logging=wandb_logging)
    return dataclasses.replace(cell, **changes)


def _run(tmp: Path, cells: list[Cell], wandb_mode: str, retries: int = 0) -> Store:
    options = RunOptions(slots=tuple(make_slots("cpu", 2)), policy=RetryPolicy(retries=retries), wandb_mode=wandb_mode,
                         metric="mAP", goal="maximize", grace_s=2.0, timeout_s=120.0)  # a deadline per cell
    store = Store.open(store_path(tmp / "out", "exp"), experiment="exp")
    Runner(store, tmp / "out" / "exp", options, PlainProgress(io.StringIO())).run(cells)
    return store


def test_wandb_runner_gives_the_cell_a_run_with_its_names_config_and_metrics(tmp_path: Path) -> None:
    cell = _cell(tmp_path, "ok")
    with _run(tmp_path, [cell], "offline") as store:
        [attempt] = store.attempts(cell.cell_id)
        assert attempt.status == "completed" and attempt.metric == "mAP" and attempt.best_metric == 50.5
        assert [(e.epoch, e.metrics) for e in store.epochs(attempt.id)] == [
            (1, {"epoch": 1, "mAP": 40.5, "rank1": 51.0}), (2, {"epoch": 2, "mAP": 50.5, "rank1": 52.0})]
        log = Path(attempt.log_path or "").read_text()
        assert "Validation Results - Epoch: 2" in log  # the tee
        assert "script sees WANDB_MODE disabled" in log  # one run per cell: the script's own wandb calls are off
    run = wait_for_offline_run(attempt.wandb_run_dir or "", timeout_s=60)
    assert run.finished and run.run_id == attempt.wandb_run_id
    assert (run.project, run.name, run.group, run.tags) == (cell.project, cell.run_name, cell.group, list(cell.tags))
    assert flatten_config(run.config) == flatten_config(CONFIG)  # the script's own settings, as rendered
    assert [(h["_step"], h["epoch"], h["mAP"], h["rank1"]) for h in run.history] == [(1, 1, 40.5, 51), (2, 2, 50.5, 52)]
    assert run.summary["best/mAP"] == 50.5 and run.summary["status"] == "completed"


def test_outcomes_of_a_users_command_say_what_happened(tmp_path: Path) -> None:
    cells = [_cell(tmp_path, mode, "off") for mode in ("quiet", "nan", "boom", "disk", "segv")]
    bare = _cell(tmp_path, "bare", "off", metric_patterns=(),  # no wrapper: the runner reads its log
                 command=(sys.executable, "-c", "import shutil; raise OSError(28, 'No space left on device')"))
    with _run(tmp_path, [*cells, bare], "offline") as store:
        got = {r.cell.option_label: (r.attempts[-1].status, r.attempts[-1].error.splitlines()[0])
               for r in read_cells(store)}  # what the summary's error column shows
        dirs = [a.output_dir or "" for a in store.attempts()]
    assert got == {
        "Adam_quiet": ("failed", "no metric matched metric_patterns; last output line: "
                                 "Epoch[2] Iteration[10/10] Loss: 1.2, Acc: 0.5"),
        "Adam_nan": ("nonfinite", "metric mAP is nan at evaluation 2"),
        "Adam_boom": ("failed", "ValueError: boom"),
        "Adam_disk": ("failed", "OSError: [Errno 28] No space left on device"),
        "Adam_segv": ("failed", "killed by signal SIGSEGV"),
        "Adam_bare": ("failed", "OSError: [Errno 28] No space left on device"),
    }
    assert not [d for d in dirs if (Path(d) / "wandb").exists()]  # wandb: off makes no run


def test_a_command_that_refuses_its_arguments_is_failed_once_not_retried(tmp_path: Path) -> None:
    """Exit 2 is the usage error of argparse and most tools: the same arguments would be refused again."""
    cell = _cell(tmp_path, "usage", "off")
    with _run(tmp_path, [cell], "disabled", retries=2) as store:
        attempts = store.attempts(cell.cell_id)
    assert [(a.status, a.exit_code) for a in attempts] == [("failed", cc.EXIT_CONFIG)], attempts
    assert attempts[0].error.startswith("train.py: error: unrecognized arguments: lr 0.1"), attempts[0].error


def _wait(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _wrapper(tmp: Path, argv: list[str], wandb: str) -> list[str]:
    return [sys.executable, "-I", "-m", MODULE, "--patterns", json.dumps(dict(PATTERNS)), "--wandb", wandb,
            "--config", str(tmp / "configs" / "ok.yml"), "--", *argv]


def test_the_command_shares_the_wrappers_group_and_a_stop_reaches_it(tmp_path: Path) -> None:
    _cell(tmp_path, "ok")  # writes the script and a config
    pid_file, out = tmp_path / "pids", tmp_path / "out"
    env = {**os.environ, cc.ENV_OUTPUT_DIR: str(out), "WANDB_MODE": "disabled"}
    argv = _wrapper(tmp_path, [sys.executable, str(tmp_path / "train.py"), "wait",
                               str(tmp_path / "configs" / "ok.yml"), str(pid_file)], "runner")
    wrapper = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # as the runner starts every child
    try:
        _wait(lambda: pid_file.exists() and pid_file.read_text().count(" ") == 1, "the script to start")
        script_pid, script_group = map(int, pid_file.read_text().split())
        assert script_group == wrapper.pid  # the runner's group-wide SIGTERM/SIGKILL reach the script
        os.kill(wrapper.pid, signal.SIGTERM)  # a signal sent to the wrapper alone is passed on
        output, _ = wrapper.communicate(timeout=60)
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
    assert wrapper.returncode == cc.EXIT_STOPPED and "script got SIGTERM" in output
    result = cc.read_result(out / cc.RESULT_FILE)
    assert result is not None and result.status.value == "stopped" and result.error == "stopped by SIGTERM"


COUNTER = r'''
import signal, sys, time
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(1))
open(sys.argv[1], "w").write("ready")
while not got:
    time.sleep(0.01)
time.sleep(1.0)  # room for a second SIGTERM to arrive
open(sys.argv[1], "w").write(str(len(got)))
print("mAP: 10.0%", flush=True)
'''


@pytest.mark.parametrize("sent_to", ["group", "wrapper"])
def test_a_stop_reaches_the_command_exactly_once(tmp_path: Path, sent_to: str) -> None:
    (tmp_path / "count.py").write_text(COUNTER)
    counts, out = tmp_path / "counts", tmp_path / "out"
    env = {**os.environ, cc.ENV_OUTPUT_DIR: str(out), "WANDB_MODE": "disabled"}
    argv = [sys.executable, "-I", "-m", MODULE, "--patterns", json.dumps(dict(PATTERNS[:1])), "--wandb", "off",
            "--", sys.executable, str(tmp_path / "count.py"), str(counts)]
    wrapper = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)  # as the runner starts every child
    try:
        _wait(lambda: counts.exists() and counts.read_text() == "ready", "the command to start")
        if sent_to == "group":
            os.killpg(wrapper.pid, signal.SIGTERM)  # what the runner does to stop a cell
        else:
            os.kill(wrapper.pid, signal.SIGTERM)  # by hand, to the wrapper alone: passed on
        wrapper.wait(timeout=60)
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
    assert counts.read_text() == "1"
    assert wrapper.returncode == cc.EXIT_STOPPED


def test_wandb_is_not_imported_unless_the_wrapper_makes_the_run(tmp_path: Path) -> None:
    _cell(tmp_path, "ok")
    probe = ("import sys; from hyperparameter_system.user_command.run import main; code = main(sys.argv[1:]); "
             "print('wandb imported:', 'wandb' in sys.modules); sys.exit(code)")
    for wandb, mode in (("off", "offline"), ("script", "offline"), ("runner", "disabled")):
        out = tmp_path / f"out-{wandb}-{mode}"
        env = {**os.environ, cc.ENV_OUTPUT_DIR: str(out), "WANDB_MODE": mode}
        args = _wrapper(tmp_path, [sys.executable, str(tmp_path / "train.py"), "ok",
                                   str(tmp_path / "configs" / "ok.yml")], wandb)[4:]
        done = subprocess.run([sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and "wandb imported: False" in done.stdout, (wandb, mode, done.stdout[-2000:])
        result = cc.read_result(out / cc.RESULT_FILE)
        assert result is not None and result.status.value == "completed" and result.best_metric == 50.5
        assert result.wandb_run_id is None


def test_lines_wandb_prints_itself_are_not_evaluations(tmp_path: Path) -> None:
    # A loose pattern also matches W&B's end-of-run summary ("wandb: val_acc 0.34", coloured on a terminal).
    script = ("print('val_acc 0.30'); print('val_acc 0.34'); print('wandb: Run summary:'); "
              "print('wandb: val_acc 0.34'); print('\\x1b[34m\\x1b[1mwandb\\x1b[0m:   val_acc 0.34')")
    out = tmp_path / "out"
    env = {**os.environ, cc.ENV_OUTPUT_DIR: str(out), "WANDB_MODE": "disabled"}
    argv = [sys.executable, "-I", "-m", MODULE, "--patterns", json.dumps({"val_acc": r"val_acc\s+([0-9.]+)"}),
            "--wandb", "off", "--", sys.executable, "-c", script]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wandb: val_acc 0.34" in done.stdout  # passed through all the same
    result = cc.read_result(out / cc.RESULT_FILE)
    assert result is not None and result.epochs_run == 2 and result.best_metric == 0.34
    assert [r["epoch"] for r in cc.read_metrics(out / cc.METRICS_FILE).records] == [1, 2]


def test_build_argv_wraps_a_command_with_metric_patterns_and_keeps_its_argv(tmp_path: Path) -> None:
    cell = _cell(tmp_path, "ok", "script")
    argv = build_argv(cell, tmp_path / "o")
    user = [sys.executable, str(tmp_path / "train.py"), "ok", cell.config_path]
    assert argv[:4] == [sys.executable, "-I", "-m", MODULE] and argv[-5:] == ["--", *user]
    assert argv[argv.index("--wandb") + 1] == "script" and json.loads(argv[argv.index("--patterns") + 1]) == dict(
        PATTERNS)
    bare = build_argv(dataclasses.replace(cell, metric_patterns=()), tmp_path / "o")  # wrapped all the same
    assert bare[:4] == argv[:4] and bare[-5:] == ["--", *user] and json.loads(bare[bare.index("--patterns") + 1]) == {}


OWN_FILES = r'''
import json, os, pathlib
out = pathlib.Path(os.environ["HPS_OUTPUT_DIR"])
print("script sees WANDB_MODE", os.environ.get("WANDB_MODE"), flush=True)
for epoch, value in ((1, 0.25), (2, 0.5)):
    with open(out / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps({"epoch": epoch, "val/acc": value}) + "\n")
(out / "result.json").write_text(json.dumps({"status": "completed", "metric": "val/acc", "goal": "maximize",
    "best_metric": 0.5, "best_epoch": 2, "final_metrics": {"val/acc": 0.5}, "epochs_run": 2}))
'''


def test_a_command_without_metric_patterns_gets_its_wandb_run_from_its_own_metrics(tmp_path: Path) -> None:
    (tmp_path / "own.py").write_text(OWN_FILES)
    cell = _cell(tmp_path, "own", metric_patterns=(), command=(sys.executable, str(tmp_path / "own.py")))
    with _run(tmp_path, [cell], "offline") as store:
        [attempt] = store.attempts(cell.cell_id)
        assert attempt.status == "completed" and attempt.best_metric == 0.5 and attempt.epochs_run == 2
        assert "script sees WANDB_MODE disabled" in Path(attempt.log_path or "").read_text()  # output passed through
    run = wait_for_offline_run(attempt.wandb_run_dir or "", timeout_s=60)
    assert run.finished and (run.project, run.name, run.group) == (cell.project, cell.run_name, cell.group)
    assert [(h["_step"], h["val/acc"]) for h in run.history] == [(1, 0.25), (2, 0.5)]
    assert run.summary["best/val/acc"] == 0.5 and run.summary["status"] == "completed"


@pytest.mark.parametrize(("written", "status", "reason"), [
    ('{"status": "completed", "metric": "val/acc", "best_metric": NaN, "epochs_run": 2}', "nonfinite", "nan"),
    ("FIFO", "failed", "result.json: not a regular file (a FIFO)"),
])
def test_a_scripts_own_broken_result_is_judged_as_written_when_the_wrapper_makes_the_run(
        tmp_path: Path, written: str, status: str, reason: str) -> None:
    """With wandb: runner the wrapper adds the run's location to the script's result.json:
    it must neither launder a NaN into "no value" nor crash on a file that breaks the contract."""
    make = ("os.mkfifo(out / 'result.json')" if written == "FIFO"
            else f"(out / 'result.json').write_text({written!r})")
    (tmp_path / "own.py").write_text(f"import os, pathlib\nout = pathlib.Path(os.environ['HPS_OUTPUT_DIR'])\n{make}\n")
    cell = _cell(tmp_path, "own", metric_patterns=(), command=(sys.executable, str(tmp_path / "own.py")))
    with _run(tmp_path, [cell], "offline") as store:
        [attempt] = store.attempts(cell.cell_id)
    assert attempt.status == status and reason in (attempt.error_tail or ""), attempt.error_tail
    assert "Traceback" not in Path(attempt.log_path or "").read_text()
