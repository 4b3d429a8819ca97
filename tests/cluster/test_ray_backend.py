"""The Ray backend on a real two-node cluster (loopback only): placement, copy-back, streaming, faults.

Every test drives the real CLI as the cluster's driver; the children are real
processes on the nodes (fake trainers, a user's own command, and the built-in
trainer on digits), the store is real SQLite, W&B runs offline and is read back.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.runner._process import find_attempt_processes, process_running
from hyperparameter_system.runner.ray_agent import node_dir
from ray_setup import (ADDRESS, attempts, cells_by_model, fake_model, hpsys, hpsys_argv, query, summary, wait_for,
                       write_experiment)
from wandb_runs import wait_for_offline_run

GRACE_S = 10.0  # the runner's default grace between SIGTERM and SIGKILL


def _live_children(dirs: list[str]) -> dict[str, dict[int, int]]:
    """Processes still working for these attempts (the nodes are on this machine, so /proc sees them)."""
    return find_attempt_processes([*dirs, *(str(node_dir(d)) for d in dirs)])


def test_cells_spread_over_both_nodes_and_come_back_without_shared_storage(cluster, tmp_path: Path) -> None:
    """Built-in trainer cells pinned to the worker, command cells to the head; nothing shared.

    Metrics stream into the store while a cell runs; result.json, metrics,
    the log and the offline W&B run land in the driver's attempt folder;
    checkpoints stay on the node; every attempt names its node.
    """
    trainer = {"name": "small_cnn", "resources": {"CPU": 1, "worker_node": 0.1}}
    slow = fake_model(tmp_path, "fake", resources={"CPU": 1, "head_node": 0.1}, epochs=4, sleep=1.5)
    config = write_experiment(tmp_path, [trainer, slow], wandb="offline",
                              execution={"shared_storage": "no", "timeout": 300},
                              overrides={"DATASETS.NAME": "digits", "INPUT.SIZE": 8, "SOLVER.MAX_EPOCHS": 1})
    driver = cluster.popen(hpsys_argv(config, "--all"), cwd=tmp_path, stdout=open(tmp_path / "run.log", "w"),
                           stderr=open(tmp_path / "run.err", "w"))
    try:
        def streamed() -> bool:  # a fake cell still running, with evaluations already in the store
            rows = query(tmp_path, "SELECT a.status, COUNT(e.seq) FROM attempts a JOIN epochs e ON e.attempt_id = a.id"
                                   " JOIN cells c ON c.cell_id = a.cell_id WHERE c.model = 'fake' GROUP BY a.id")
            return any(status == "running" and count >= 1 for status, count in rows)
        wait_for(streamed, "a running cell's metrics in the store", timeout=180)
        assert driver.wait(timeout=300) == 0, (tmp_path / "run.log").read_text() + (tmp_path / "run.err").read_text()
    finally:
        driver.kill()
    cells = cells_by_model(summary(cluster, config))
    assert {c["node"] for c in cells["small_cnn"]} == {"worker"}, cells["small_cnn"]
    assert {c["node"] for c in cells["fake"]} == {"head"}, cells["fake"]
    assert all(c["status"] == "completed" for m in cells.values() for c in m), cells
    markdown = hpsys(cluster, config, "--summary", "--format", "md").stdout  # every format names the node
    ends = [line.rsplit("|", 2)[1].strip(" *") for line in markdown.splitlines() if line.startswith("| ")]
    assert ends.count("node") == 2 and sorted(e for e in ends if e != "node") == ["head"] * 2 + ["worker"] * 2, ends
    rows = list(csv.DictReader(io.StringIO(hpsys(cluster, config, "--summary", "--format", "csv").stdout)))
    assert sorted(r["node"] for r in rows) == ["head"] * 2 + ["worker"] * 2, rows
    page = hpsys(cluster, config, "--summary", "--format", "html").stdout
    assert page.count("<th>node</th>") == 2 and page.count('<td class="num">worker</td>') == 2
    for cell in cells["small_cnn"]:
        folder = Path(cell["wandb"]["run_dir"]).parents[1]
        assert str(folder).startswith(str(tmp_path / "out")), f"W&B run not in the driver's folder: {folder}"
        assert (folder / "result.json").is_file() and (folder / "metrics.jsonl").is_file()
        run = wait_for_offline_run(cell["wandb"]["run_dir"])
        assert run.project == "small_cnn" and run.history, "the offline W&B run came back readable"
        assert not list(folder.rglob("*.pt")), "checkpoints were copied back"
        assert "left on node worker in" in (folder / "stdout.log").read_text()
        assert list(node_dir(str(folder)).rglob("*.pt")), "the checkpoint is not on the node"
    for cell in cells["fake"]:
        assert cell["epochs_run"] == 4 and cell["metric"] == pytest.approx(0.54)


def test_a_model_pinned_to_a_resource_one_node_has_once_runs_all_its_cells(cluster, tmp_path: Path) -> None:
    """Only one cell fits at a time: the next one takes the finished cell's agent instead of waiting for ever."""
    config = write_experiment(tmp_path, [fake_model(tmp_path, "pinned", {"CPU": 1, "worker_node": 1}, epochs=1)],
                              options=2)
    done = hpsys(cluster, config, "--all", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = attempts(tmp_path)
    assert [(r[1], r[2]) for r in rows] == [("completed", "worker")] * 3, rows


def test_an_ask_no_node_can_meet_names_its_line_before_anything_is_written(cluster, tmp_path: Path) -> None:
    """Its cells would wait in Ray's queue for ever: one line at the model's ``resources``, exit 2."""
    config = write_experiment(tmp_path, [fake_model(tmp_path, "fits", epochs=1),
                                         fake_model(tmp_path, "huge", {"worker_node": 2}, epochs=1)], options=0)
    done = hpsys(cluster, config, "--all", timeout=120)
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "worker_node: 2" in text) - 1
    errors = [text for text in done.stderr.splitlines() if "network_util.cc" not in text]  # Ray's own warning
    assert done.returncode == 2 and len(errors) == 1, done.stdout + done.stderr
    assert errors[0].startswith(f"error: {config}:{line}: models[1].resources: {{worker_node: 2}}: no node "
                                "of the Ray cluster has that much"), done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "configs").exists()


def test_a_killed_keeper_stops_its_child_before_the_retry_and_a_fifo_is_not_read(cluster, tmp_path: Path) -> None:
    """kill -9 of the process between agent and child: the child is stopped before the crash retry
    starts (one completed training, by the retry); a child's FIFO named metrics.jsonl in a folder
    the node copies back neither hangs the node agent nor reaches the driver."""
    markers = tmp_path / "markers"
    markers.mkdir()
    victim = fake_model(tmp_path, "victim", epochs=2, sleep=6, marker_dir=str(markers))
    odd = fake_model(tmp_path, "odd", epochs=1, special_files={"metrics.jsonl": "fifo"})
    config = write_experiment(tmp_path, [victim, odd], options=0,
                              execution={"retries": 1, "shared_storage": "no", "timeout": 120})
    driver = cluster.popen(hpsys_argv(config, "--all"), cwd=tmp_path, stdout=open(tmp_path / "run.log", "w"),
                           stderr=open(tmp_path / "run.err", "w"))
    try:
        rows = wait_for(lambda: [r for r in attempts(tmp_path) if r[2] and "victim" in r[3]], "the victim running")
        child = wait_for(lambda: _live_children([rows[0][3]]), "the victim's child")
        keepers = {_parent(pid) for pids in child.values() for pid, group in pids.items() if pid == group}
        for keeper in keepers:
            os.kill(keeper, signal.SIGKILL)
        assert driver.wait(timeout=180) == 0, (tmp_path / "run.log").read_text()
    finally:
        driver.kill()
    done = [line for path in markers.glob("*.done") for line in path.read_text().splitlines()]
    assert [json.loads(line)["attempt"] for line in done] == ["2"], done
    odd_dirs = [Path(r[3]) for r in attempts(tmp_path) if "odd" in r[3]]
    assert odd_dirs and not any((d / "metrics.jsonl").exists() and not (d / "metrics.jsonl").is_file()
                                for d in odd_dirs)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_sigterm_of_the_driver_stops_remote_children_and_a_timeout_is_kept(cluster, tmp_path: Path) -> None:
    """SIGTERM of the driver: every remote child's group is stopped within the grace, each cell
    recorded ``stopped``, also the one whose keeper was frozen (SIGSTOP: the node agent kills
    that child's group itself); a cell past its timeout ends ``timeout``."""
    config = write_experiment(tmp_path, [fake_model(tmp_path, "sleepy", epochs=1, sleep=120)], options=2)
    timed = write_experiment(tmp_path, [fake_model(tmp_path, "late", epochs=1, sleep=120)], name="late",
                             options=0, execution={"timeout": 4})
    late = cluster.popen(hpsys_argv(timed, "--all"), cwd=tmp_path, stdout=open(tmp_path / "late.log", "w"),
                         stderr=open(tmp_path / "late.err", "w"))
    driver = cluster.popen(hpsys_argv(config, "--all"), cwd=tmp_path, stdout=open(tmp_path / "run.log", "w"),
                           stderr=open(tmp_path / "run.err", "w"))
    frozen = 0
    try:
        rows = wait_for(lambda: [r for r in attempts(tmp_path) if r[2]] if len(attempts(tmp_path)) == 3
                        and all(r[2] for r in attempts(tmp_path)) else None, "three cells running on nodes")
        dirs = [r[3] for r in rows]
        children = wait_for(lambda: (found := _live_children(dirs)) and len(found) == 3 and found,
                            "the three children alive", timeout=60)
        group = next(iter(children.values()))  # one attempt's processes: pid -> process group
        frozen = _parent(next(iter(group.values())))  # the parent of its child (the group's leader): the keeper
        assert "ray_keeper" in Path(f"/proc/{frozen}/cmdline").read_text(), "the child's parent is its keeper"
        os.kill(frozen, signal.SIGSTOP)
        driver.send_signal(signal.SIGTERM)
        driver.wait(timeout=GRACE_S + 60)
        assert not _live_children(dirs), "a remote child outlived its stopped driver"
        assert {r[1] for r in attempts(tmp_path)} == {"stopped"}, attempts(tmp_path)
        assert late.wait(timeout=120) == 1
        assert [r[1] for r in attempts(tmp_path, name="late")] == ["timeout"]
    finally:
        driver.kill()
        late.kill()
        if frozen:
            os.kill(frozen, signal.SIGCONT)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_kill_9_of_the_driver_then_resume_runs_no_cell_twice(cluster, tmp_path: Path) -> None:
    """kill -9 of the driver: Ray ends its agents, the keepers stop the children within the grace,
    and the resume finishes every cell with exactly one completed training each."""
    markers = tmp_path / "markers"
    markers.mkdir()
    config = write_experiment(tmp_path, [fake_model(tmp_path, "steady", epochs=3, sleep=3,
                                                    marker_dir=str(markers))], options=2)
    driver = cluster.popen(hpsys_argv(config, "--all"), cwd=tmp_path, stdout=open(tmp_path / "run.log", "w"),
                           stderr=open(tmp_path / "run.err", "w"))
    try:
        rows = wait_for(lambda: attempts(tmp_path) if len(attempts(tmp_path)) == 3
                        and all(r[2] for r in attempts(tmp_path)) else None, "three cells running on nodes")
        driver.kill()
        driver.wait(timeout=30)
        started = time.monotonic()
        wait_for(lambda: not _live_children([r[3] for r in rows]), "the orphaned remote children to stop",
                 timeout=GRACE_S + 50)
        gone_after = time.monotonic() - started
    finally:
        driver.kill()
    resumed = hpsys(cluster, config, "--all", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    done = {p.stem: p.read_text().splitlines() for p in markers.glob("*.done")}
    assert len(done) == 3 and all(len(lines) == 1 for lines in done.values()), done
    statuses = [r[1] for r in attempts(tmp_path)]
    assert statuses.count("completed") == 3, statuses
    assert gone_after < GRACE_S + 45, f"remote children lingered {gone_after:.0f}s"


def test_a_sweep_runs_its_trials_on_the_cluster(cluster, tmp_path: Path) -> None:
    """The sweep's controller stays in the driver; its trials run on the nodes and record them."""
    model = fake_model(tmp_path, "swept", epochs=2)
    config = write_experiment(tmp_path, [model], options=1)
    text = config.read_text().replace("execution:\n  backend: ray", "execution:\n  backend: local")
    config.write_text(text)  # the file says local: --backend ray is what sends the trials to the cluster
    done = hpsys(cluster, config, "--sweep", "--models", "swept", "--categories", "optimizer", "--method", "random",
                 "--count", "2",
                 "--backend", "ray", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = attempts(tmp_path)
    assert len(rows) == 2 and all(r[1] == "completed" and r[2] in ("head", "worker") for r in rows), rows
    assert f"--backend ray --ray-address {ADDRESS} [--count N]" in done.stdout  # how to go on, on the cluster


def test_a_lost_node_fails_its_attempt_and_the_retry_runs_elsewhere(cluster, tmp_path: Path) -> None:
    """Only the worker's raylet dies mid-cell (the machine and its other processes live on): the child
    there is stopped within the grace, that attempt is ``failed`` naming the node, the retry runs on the head."""
    blocker = write_experiment(tmp_path, [fake_model(tmp_path, "blocker", {"CPU": 2, "head_node": 0.1},
                                                     epochs=1, sleep=25)], name="blk", options=0)
    victim = write_experiment(tmp_path, [fake_model(tmp_path, "victim", epochs=2, sleep=4, first_sleep=60)],
                              name="vic", options=0, execution={"retries": 1})
    first = cluster.popen(hpsys_argv(blocker, "--all"), cwd=tmp_path, stdout=open(tmp_path / "b.log", "w"),
                          stderr=open(tmp_path / "b.err", "w"))
    try:
        wait_for(lambda: [r for r in attempts(tmp_path, name="blk") if r[2] == "head"], "the head to be busy")
        second = cluster.popen(hpsys_argv(victim, "--all"), cwd=tmp_path, stdout=open(tmp_path / "v.log", "w"),
                               stderr=open(tmp_path / "v.err", "w"))
        rows = wait_for(lambda: [r for r in attempts(tmp_path, name="vic") if r[2] == "worker"],
                        "the victim on the worker")
        child = wait_for(lambda: _live_children([rows[0][3]]), "the victim's child")
        raylet = cluster.raylet_pid("worker")
        assert raylet is not None
        os.kill(raylet, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: not any(process_running(pid) for pids in child.values() for pid in pids),
                 "the victim's child to stop", timeout=GRACE_S + 20)
        gone_after = time.monotonic() - killed_at
        assert second.wait(timeout=240) == 0, (tmp_path / "v.log").read_text() + (tmp_path / "v.err").read_text()
        assert first.wait(timeout=120) == 0
    finally:
        first.kill()
        cluster.add_worker() if cluster.raylet_pid("worker") is None else None
    rows = attempts(tmp_path, name="vic", columns="status, node, error_tail")
    assert [(r[0], r[1]) for r in rows] == [("failed", "worker"), ("completed", "head")], rows
    assert "node worker was lost while this attempt ran" in (rows[0][2] or ""), rows[0][2]
    assert gone_after < GRACE_S + 5, f"the child on the lost node lingered {gone_after:.0f}s"
    report = json.loads(hpsys(cluster, victim, "--summary", "--format", "json").stdout)
    assert cells_by_model(report)["victim"][0]["node"] == "head"


def test_sigterm_while_the_plan_renders_is_an_interrupt_not_a_ray_crash(cluster, tmp_path: Path) -> None:
    """Until the runner's loop a SIGTERM is a Ctrl-C: the driver says "interrupted" and exits 130,
    letting its prestarted agents go (Ray's own handler dumped a stack and aborted instead)."""
    config = write_experiment(tmp_path, [fake_model(tmp_path, "many")], options=1)
    experiment = yaml.safe_load(config.read_text())
    experiment["categories"]["optimizer"]["options"] = [{"name": "SGD", "lr": 1e-5 * (i + 1)} for i in range(800)]
    config.write_text(yaml.safe_dump(experiment))
    driver = cluster.popen(hpsys_argv(config, "--all"), cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "configs" / "rx" / "many"
    try:
        wait_for(lambda: folder.is_dir() and len(os.listdir(folder)) > 20, "the configs being rendered", timeout=120)
        driver.send_signal(signal.SIGTERM)
        _out, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 130 and err.strip().endswith("interrupted"), (driver.returncode, err[-800:])
