"""W&B for a training run: mode resolution, naming, offline logging read back, failures contained.

No W&B server exists here: runs are real wandb runs in offline mode, read back
from their ``.wandb`` files. The only stand-ins are a forced exception (to
prove a broken W&B cannot fail a run) and a temporary netrc file.
"""

from __future__ import annotations

import pytest

from hyperparameter_system import child_contract as cc
from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.tracking.wandb_run import flatten_config, init_kwargs, resolve_mode
from wandb_runs import find_offline_runs, wait_for_offline_run

from training.train_helpers import train_run  # noqa: F401  (the in-process run fixture)


@pytest.mark.parametrize(
    ("env", "configured", "expected"),
    [
        ({"WANDB_MODE": "disabled"}, "online", "disabled"),
        ({"WANDB_MODE": "offline", "WANDB_API_KEY": "x" * 40}, "auto", "offline"),
        ({}, "auto", "offline"),
        ({"WANDB_API_KEY": "x" * 40}, "auto", "online"),
        ({}, "disabled", "disabled"),
        ({"WANDB_MODE": "dryrun"}, "online", "offline"),
    ],
)
def test_resolve_mode(env, configured, expected, tmp_path):
    assert resolve_mode(configured, env, netrc_path=str(tmp_path / "no-netrc")) == expected


def test_auto_is_online_with_a_netrc_login(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    assert resolve_mode("auto", {}, netrc_path=str(netrc)) == "online"
    other = tmp_path / "other"
    other.write_text("machine example.com\n  login user\n  password secret\n")
    other.chmod(0o600)
    assert resolve_mode("auto", {}, netrc_path=str(other)) == "offline"


def test_init_kwargs_take_the_runner_environment_over_the_config(tmp_path):
    cfg = get_cfg_defaults()
    cfg.WANDB.PROJECT, cfg.WANDB.NAME, cfg.WANDB.GROUP, cfg.WANDB.TAGS = "cfgproj", "cfgname", "cfggroup", ["c"]
    env = {"WANDB_PROJECT": "small_cnn", "WANDB_NAME": "opt_SGD_2607091200", "WANDB_RUN_GROUP": "optimizer",
           "WANDB_TAGS": "optimizer,small_cnn", "WANDB_RUN_ID": "abc123", "WANDB_MODE": "offline"}
    kwargs = init_kwargs(cfg, tmp_path, env)
    assert (kwargs["project"], kwargs["name"], kwargs["group"], kwargs["tags"], kwargs["id"]) == (
        "small_cnn", "opt_SGD_2607091200", "optimizer", ["optimizer", "small_cnn"], "abc123")
    assert kwargs["mode"] == "offline" and kwargs["dir"] == str(tmp_path)
    fallback = init_kwargs(cfg, tmp_path, {"WANDB_MODE": "offline"})
    assert (fallback["project"], fallback["name"], fallback["group"], fallback["tags"]) == (
        "cfgproj", "cfgname", "cfggroup", ["c"])
    assert "id" not in fallback
    assert kwargs["config"]["SOLVER.BASE_LR"] == cfg.SOLVER.BASE_LR == flatten_config(cfg)["SOLVER.BASE_LR"]


def test_offline_run_lands_in_output_dir_and_reads_back_equal_to_metrics(train_run, monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "small_cnn")
    monkeypatch.setenv("WANDB_NAME", "opt_AdamW_lr0.001_2607091200")
    monkeypatch.setenv("WANDB_RUN_GROUP", "optimizer")
    monkeypatch.setenv("WANDB_TAGS", "optimizer,small_cnn")
    run = train_run({"WANDB.LOG_IMAGES": True, "LOG_PERIOD": 5}, wandb=True)
    assert run.code == 0
    dirs = find_offline_runs(run.out)
    assert len(dirs) == 1 and str(dirs[0]) == run.result["wandb_run_dir"]
    offline = wait_for_offline_run(dirs[0])
    assert offline.finished
    assert (offline.project, offline.name, offline.group, offline.tags) == (
        "small_cnn", "opt_AdamW_lr0.001_2607091200", "optimizer", ["optimizer", "small_cnn"])
    assert offline.run_id == run.result["wandb_run_id"]
    assert offline.config["SOLVER.MAX_EPOCHS"] == 2 and offline.config["INPUT.SIZE"] == 12
    evaluations = [row for row in offline.history if "val/acc" in row]
    keys = ("epoch", "step", "lr", "val/acc", "val/loss", "val/f1")
    assert [{k: row[k] for k in keys} for row in evaluations] == [{k: m[k] for k in keys} for m in run.metrics]
    train_rows = [row for row in offline.history if "train/loss" in row]
    assert [row["iteration"] for row in train_rows] == [5, 10, 15, 20]  # 12 x 2 iterations, every 5th
    assert {"train/acc", "train/lr"} <= set(train_rows[0])
    assert any("samples" in row for row in offline.history)
    assert offline.summary["best/val/acc"] == run.result["best_metric"]
    assert offline.summary["status"] == "completed"


def test_unwritable_wandb_dir_does_not_fail_the_run(train_run, tmp_path):
    out = tmp_path / "blocked"
    out.mkdir()
    (out / "wandb").write_text("a file where wandb wants its folder")
    run = train_run({"OUTPUT_DIR": str(out)}, wandb=True)
    assert run.code == 0 and run.result["status"] == "completed"
    assert run.result["wandb_run_id"] is None
    assert "W&B init failed" in run.log


def test_wandb_raising_mid_run_does_not_fail_the_run(train_run, monkeypatch):
    """A forced exception stands in for a W&B outage during logging."""
    import wandb.sdk.wandb_run as wandb_run

    def broken_log(self, *args, **kwargs):
        raise ConnectionError("simulated W&B outage")

    monkeypatch.setattr(wandb_run.Run, "log", broken_log)
    run = train_run({}, wandb=True)
    assert run.code == 0 and run.result["status"] == "completed"
    assert len(run.metrics) == 2 and run.result["best_metric"] is not None
    assert "W&B log failed" in run.log and "simulated W&B outage" in run.log
    assert cc.read_result(run.out / cc.RESULT_FILE).wandb_run_id  # the run existed before it broke
    import wandb

    assert wandb.run is None  # the broken run was closed, not left open for the next wandb.init


def test_online_init_refused_by_a_server_falls_back_to_an_offline_run(tmp_path):
    """A server that answers but refuses (a proxy, a 404) passes the runner's reachability check.

    The stand-in is a loopback HTTP server answering 404 to everything, since no W&B server
    exists here; the run must still be kept, offline, for ``wandb sync`` later.
    """
    import http.server
    import threading

    from training.train_helpers import start_child

    class NotFound(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "run"
        child = start_child({}, out, WANDB_MODE="online", WANDB_API_KEY="k" * 40,
                            WANDB_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}")
        stdout, stderr = child.communicate(timeout=300)
    finally:
        server.shutdown()
    assert child.returncode == 0, stderr[-2000:]
    result = cc.read_result(out / cc.RESULT_FILE)
    assert result.status == "completed" and result.wandb_run_dir
    assert "logs offline: upload later with wandb sync" in stdout + stderr
    offline = wait_for_offline_run(find_offline_runs(out)[0])
    assert offline.finished and offline.run_id == result.wandb_run_id


def test_launch_inputs_are_applied_only_once_launch_code_could_stage_some(monkeypatch):
    """wandb.init looks for staged W&B Launch inputs by importing the launch package (seconds); we skip the look
    until the module that stages them is imported, then wandb's own check runs."""
    import sys
    import types

    from wandb.sdk import wandb_run

    from hyperparameter_system.tracking.wandb_run import skip_unstaged_launch_inputs

    applied: list[str] = []
    monkeypatch.setattr(wandb_run.Run, "_detect_and_apply_job_inputs", lambda run: applied.append(run))
    monkeypatch.delitem(sys.modules, "wandb.sdk.launch.inputs.internal", raising=False)
    skip_unstaged_launch_inputs()
    skip_unstaged_launch_inputs()  # once per process is enough: a second call changes nothing
    wandb_run.Run._detect_and_apply_job_inputs("run-a")
    monkeypatch.setitem(sys.modules, "wandb.sdk.launch.inputs.internal", types.ModuleType("staging"))
    wandb_run.Run._detect_and_apply_job_inputs("run-b")
    assert applied == ["run-b"]
