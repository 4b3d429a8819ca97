"""Warm start: built-in cells forked by a fork server behave as cold ones, only sooner.

Every test drives the real CLI over real digits training. A tiny model plugin
(``probe_net``) records what its process sees (process group, parent, slot
variables, torch threads, its /proc environment) and can wait on a gate file or
crash with SIGSEGV, so the fork server's faults can be staged on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweeps"))

from procs import processes_of, wait_none_left  # noqa: E402
from sweep_helpers import wait_value  # noqa: E402

from hyperparameter_system.runner._process import process_running  # noqa: E402
from hyperparameter_system.store import Store, store_path  # noqa: E402

PROBE = '''
import json, os, signal, time
from pathlib import Path
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.model_spec import ModelSpec

GATE = Path({gate!r})


def build(name, num_classes, cfg):
    import torch
    from torch import nn

    out = Path(cfg.OUTPUT_DIR)
    parent = Path(f"/proc/{{os.getppid()}}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
    record = {{"pid": os.getpid(), "pgid": os.getpgrp(), "sid": os.getsid(0), "ppid": os.getppid(),
              "parent": parent, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
              "slot_threads": os.environ.get("HPS_TORCH_THREADS"), "torch_threads": torch.get_num_threads(),
              "proc_environ": (Path("/proc/self/environ").read_bytes().decode().split("\\0")),
              "parent_threads": len(os.listdir(f"/proc/{{os.getppid()}}/task"))}}
    (out / "probe.tmp").write_text(json.dumps(record))
    os.replace(out / "probe.tmp", out / "probe.json")  # whole or absent: the test polls for it
    deadline = time.monotonic() + 120
    while not GATE.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if abs(float(cfg.SOLVER.BASE_LR) - 0.123) < 1e-9:
        os.kill(os.getpid(), signal.SIGSEGV)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, num_classes))


@hookimpl
def register_models(register):
    register(ModelSpec(family="probe_net", names=lambda: ("probe_net",), build=build, description="test probe"))
'''


def _experiment(tmp: Path, model: str, options: str, *, gate_open: bool, parallel: int = 1) -> Path:
    (tmp / "plugins").mkdir(exist_ok=True)
    gate = tmp / "gate"
    (tmp / "plugins" / "probe_net.py").write_text(PROBE.format(gate=str(gate)))
    if gate_open:
        gate.touch()
    (tmp / "exp.yaml").write_text(f"""
experiment:
  name: warm
  plugin_dirs: [plugins]
  overrides: {{DATASETS.NAME: digits, DATASETS.MAX_TRAIN_SAMPLES: 256, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}}
wandb: {{mode: disabled}}
execution: {{parallel: {parallel}, devices: cpu, timeout: 240, retries: 0}}
models: [{{name: {model}}}]
categories:
  optimizer:
    options: {options}
""")
    return gate


def _cli_argv(tmp: Path) -> list[str]:
    return [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(tmp / "exp.yaml"),
            "--all"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", **extra}


def _run(tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli_argv(tmp), cwd=tmp, capture_output=True, text=True, timeout=300, env=_env(**extra))


def _attempts(tmp: Path) -> dict[str, list[Any]]:
    with Store.open(store_path(tmp / "output", "warm")) as store:
        return {r.cell.option_label: store.attempts(r.cell.cell_id) for r in store.cell_results()}


def _probes(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp / "output" / "warm").glob("*/*/attempt-*/probe.json"))]


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in lines]


@pytest.mark.slow
def test_a_warm_and_a_cold_run_of_one_cell_give_identical_metrics(tmp_path: Path) -> None:
    runners = {}
    try:
        for name, warm in (("warm", "1"), ("cold", "0")):  # side by side: each waits on its own imports
            tmp = tmp_path / name
            tmp.mkdir()
            _experiment(tmp, "small_cnn", "[{name: SGD, lr: 0.1}]", gate_open=True, parallel=2)
            runners[name] = subprocess.Popen(_cli_argv(tmp), cwd=tmp, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True, env=_env(HPSYS_WARM_START=warm))
        outputs = {name: runner.communicate(timeout=300)[0] for name, runner in runners.items()}
    finally:
        for runner in runners.values():
            runner.kill()
    runs = {}
    for name, runner in runners.items():
        tmp = tmp_path / name
        assert runner.returncode == 0, outputs[name]
        runs[name] = {p.parent.parent.name.rsplit("_", 1)[0]: _metrics(p.parent)
                      for p in (tmp / "output" / "warm").glob("*/*/attempt-1/result.json")}
        assert ((tmp / "output" / "warm" / "fork-server.log").exists()) == (name == "warm")
    assert len(runs["warm"]) == 2 and runs["warm"] == runs["cold"]  # every epoch's metrics, bit for bit
    assert all(len(history) == 1 for history in runs["warm"].values())


@pytest.mark.slow
def test_forked_cells_get_their_slot_and_a_crash_leaves_the_server_serving(tmp_path: Path) -> None:
    _experiment(tmp_path, "probe_net", "[{name: SGD, lr: 0.123}, {name: SGD, lr: 0.1}]", gate_open=True)
    done = _run(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # one cell failed
    assert "fork server" not in done.stdout + done.stderr
    attempts = _attempts(tmp_path)
    crashed = attempts["SGD_lr0.123_wd0.0001_m0.9"]
    assert [a.status for a in crashed] == ["failed"] and "SIGSEGV" in (crashed[0].error_tail or "")
    assert {label: [a.status for a in rows] for label, rows in attempts.items() if rows is not crashed} \
        == {"default": ["completed"], "SGD_lr0.1_wd0.0001_m0.9": ["completed"]}
    probes = _probes(tmp_path)
    assert len(probes) == 3 and len({p["ppid"] for p in probes}) == 1  # one server forked all three
    server_log = (tmp_path / "output" / "warm" / "fork-server.log").read_text()
    assert f"fork server {probes[0]['ppid']}: ready" in server_log and "with 1 thread(s)" in server_log
    for probe in probes:
        assert "fork_server" in probe["parent"] and probe["parent_threads"] == 1
        assert probe["pid"] == probe["pgid"] == probe["sid"]  # its own session and process group
        assert probe["cuda"] == "" and probe["torch_threads"] == int(probe["slot_threads"])
        assert any(v.startswith("HPS_OUTPUT_DIR=") for v in probe["proc_environ"])  # findable as an orphan
        assert not any(v.startswith("HPSYS_ENV_ROOM=") for v in probe["proc_environ"])


# SIGKILL: a dead server; SIGSTOP: a stuck one, which never reaps nor reports its child's exit.
@pytest.mark.slow
@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
def test_a_dead_or_stuck_fork_server_means_one_warning_and_cold_starts(tmp_path: Path, fault: int) -> None:
    gate = _experiment(tmp_path, "probe_net", "[{name: SGD, lr: 0.1}]", gate_open=False)
    # A stopped server is found out when it leaves an ended child unreported this long (10 s by default).
    runner = subprocess.Popen(_cli_argv(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=_env(HPSYS_EXIT_REPORT_S="2"))
    try:
        first = wait_value(lambda: _probes(tmp_path), "the first cell", timeout=180)[0]
        os.kill(first["ppid"], fault)  # the fork server, while its first child waits at the gate
        gate.touch()
        output, _ = runner.communicate(timeout=240)
    finally:
        runner.kill()
    assert runner.returncode == 0, output
    assert output.count("fork server") == 1 and "new cells start cold" in output
    assert {label: [a.status for a in rows] for label, rows in _attempts(tmp_path).items()} \
        == {"default": ["completed"], "SGD_lr0.1_wd0.0001_m0.9": ["completed"]}
    later = [p for p in _probes(tmp_path) if p["pid"] != first["pid"]]
    assert len(later) == 1 and "experiment_runner" in later[0]["parent"]  # started cold, by the runner itself


@pytest.mark.slow
def test_kill_9_of_the_runner_leaves_a_forked_cell_that_the_next_runner_finds(tmp_path: Path) -> None:
    gate = _experiment(tmp_path, "probe_net", "[{name: SGD, lr: 0.1}]", gate_open=False)
    runner = subprocess.Popen(_cli_argv(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=_env())
    try:
        child = wait_value(lambda: _probes(tmp_path), "the first cell", timeout=180)[0]
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        runner.kill()
    root = tmp_path / "output" / "warm"
    assert child["pid"] in processes_of(root)  # the orphan outlives runner and server, found by its environment
    gate.touch()
    done = _run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = [a.status for a in _attempts(tmp_path)["default"]]
    assert statuses[-1] == "completed" and statuses.count("completed") == 1
    wait_none_left(root, timeout_s=30)


def test_a_cell_that_changes_a_start_up_variable_starts_cold() -> None:
    from hyperparameter_system.runner.warm import startup_change

    runner_env = {"PATH": "/usr/bin", "PYTHONPATH": "/a"}
    assert startup_change({**runner_env, "PYTHONHASHSEED": "0"}, runner_env) == "PYTHONHASHSEED"
    assert startup_change({"PATH": "/usr/bin"}, runner_env) == "PYTHONPATH"  # unset counts as a change
    slot_env = {**runner_env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "0"}
    assert startup_change(slot_env, runner_env) is None  # what the runner sets per slot is applied in the child


def test_a_bad_exit_report_wait_is_refused_before_a_sweep_writes_anything(tmp_path: Path) -> None:
    """HPSYS_EXIT_REPORT_S (seconds) is read with the run's settings; a long value is cut in the line."""
    _experiment(tmp_path, "small_cnn", "[{name: SGD, lr: 0.1}]", gate_open=True)
    sweep = [*_cli_argv(tmp_path)[:-1], "--sweep", "--models", "small_cnn", "--categories", "optimizer",
             "--count", "1", "--backend", "local"]
    for value, shown in (("soon", "got 'soon'"), ("9" * 3000, "got '" + "9" * 40 + "'")):
        done = subprocess.run(sweep, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=_env(HPSYS_EXIT_REPORT_S=value))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-500:]
        assert f"HPSYS_EXIT_REPORT_S: must be a number of seconds > 0, {shown}" in done.stderr, done.stderr[-500:]
        assert not (tmp_path / "output").exists(), "a refused setting writes nothing (no sweep, no store)"


def _children_running(parent: int, needle: bytes) -> list[int]:
    """Live children of ``parent`` whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            if entry.name.isdigit() and int(stat[1]) == parent and stat[0] != "Z" \
                    and needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_sigterm_while_the_fork_server_starts_leaves_no_server_behind(tmp_path: Path) -> None:
    """SIGTERM as soon as a fresh run began its fork server, while it writes its store and its 2,000
    configs (the server begins once the plan is checked): the run exits 130 and takes the server
    with it, not leaving it to import on alone (nor dying by the signal itself)."""
    options = ", ".join(f"{{name: SGD, lr: {(i + 1) / 1e5:.5f}}}" for i in range(2000))
    _experiment(tmp_path, "small_cnn", f"[{options}]", gate_open=True)
    runner = subprocess.Popen(_cli_argv(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=_env())
    try:
        wait_value(lambda: _children_running(runner.pid, b"runner.fork_server"), "the fork server", timeout=120)
        [server] = _children_running(runner.pid, b"runner.fork_server")
        runner.send_signal(signal.SIGTERM)
        output = runner.communicate(timeout=120)[0]
    finally:
        runner.kill()
    assert runner.returncode == 130, output
    wait_value(lambda: not process_running(server), "the server's end", timeout=10)
    assert "Traceback" not in output, output


def test_a_stop_while_a_resumed_run_waits_for_its_fork_server_starts_no_cell(tmp_path: Path) -> None:
    """A resumed run begins its server at its first launch; SIGTERM while it imports ends the wait
    at once: that cell is recorded stopped and no child starts (it waited for the server, then
    started a child only to stop it)."""
    _experiment(tmp_path, "small_cnn", "[{name: SGD, lr: 0.1}]", gate_open=True)
    Store.open(store_path(tmp_path / "output", "warm"), experiment="warm").close()  # the run resumes it
    runner = subprocess.Popen(_cli_argv(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=_env())
    try:
        wait_value(lambda: _children_running(runner.pid, b"runner.fork_server"), "the fork server", timeout=120)
        runner.send_signal(signal.SIGTERM)
        output = runner.communicate(timeout=120)[0]
    finally:
        runner.kill()
    assert runner.returncode == 130, output
    assert "start  small_cnn" not in output, output
    statuses = [a.status for attempts in _attempts(tmp_path).values() for a in attempts]
    assert statuses == ["stopped"], (statuses, output)
    assert not list((tmp_path / "output" / "warm").glob("*/*/attempt-*/log.txt")), "no child trained"
