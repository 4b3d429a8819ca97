"""The runner over real child processes: statuses, retries, resume, environment."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hyperparameter_system.child_contract import Status


def test_cells_complete_with_metrics_history_and_child_environment(harness) -> None:
    cells = [harness.cell(n, {"epochs": 3, "score": s, "dump_env": True}) for n, s in (("a", 0.5), ("b", 0.7))]
    report = harness.run(cells)
    assert report.exit_code == 0 and report.launched == 2
    results = {r.cell.cell_id: r for r in harness.store.cell_results()}
    assert results["cell-b"].best.best_metric > results["cell-a"].best.best_metric
    attempt = results["cell-a"].latest
    assert [e.epoch for e in harness.store.epochs(attempt.id)] == [1, 2, 3]
    assert Path(attempt.output_dir) == harness.root / "fake_model" / "opt_a_2601010000" / "attempt-1"
    env = json.loads((Path(attempt.output_dir) / "env.json").read_text())
    assert env["WANDB_PROJECT"] == "fake_model" and env["WANDB_NAME"] == "opt_a_2601010000"
    assert env["WANDB_RUN_GROUP"] == "optimizer" and env["WANDB_RUN_ID"] == attempt.wandb_run_id
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["HPS_CELL_ID"] == "cell-a" and env["HPS_ATTEMPT"] == "1"
    assert env["HPS_OUTPUT_DIR"] == attempt.output_dir and int(env["HPS_TORCH_THREADS"]) >= 1
    user = attempt.command[attempt.command.index("--") + 1:]  # the command runs under the wrapper
    assert user[1].endswith("fake_child.py") and "OUTPUT_DIR" in user


def test_resume_skips_finished_cells_and_rerun_all_runs_them_again(harness) -> None:
    done, edited = harness.cell("a"), harness.cell("b")
    assert harness.run([done, edited]).exit_code == 0
    changed = harness.cell("b2")  # an edited option is a new cell id
    harness.run([done, changed])
    assert harness.statuses(done) == ["completed"] and harness.statuses(changed) == ["completed"]
    harness.run([done], rerun="all")
    assert harness.statuses(done) == ["completed", "completed"]


def test_crash_is_retried_and_persistent_crash_fails_without_stopping_others(harness) -> None:
    flaky = harness.cell("flaky", {"crash_attempts": 1})
    broken = harness.cell("broken", {"crash_attempts": 99})
    fine = harness.cell("fine")
    report = harness.run([broken, flaky, fine], retries=1)
    assert harness.statuses(flaky) == ["failed", "completed"]
    assert harness.statuses(broken) == ["failed", "failed"]
    assert harness.statuses(fine) == ["completed"]
    assert report.exit_code == 1
    assert "simulated crash" in harness.store.attempts(broken.cell_id)[-1].error_tail
    # a plain resume leaves the failed cell alone; --rerun failed tries it again
    harness.run([broken, flaky, fine], retries=0)
    assert len(harness.statuses(broken)) == 2
    harness.run([broken, flaky, fine], retries=0, rerun="failed")
    assert harness.statuses(broken) == ["failed", "failed", "failed"] and harness.statuses(fine) == ["completed"]


def test_oom_halves_batch_and_doubles_accumulation_down_to_the_floor(harness) -> None:
    fits = harness.cell("fits", {"oom_above": 16}, batch=64)
    never = harness.cell("never", {"oom_above": 4}, batch=32)
    report = harness.run([fits, never], min_batch_size=8)
    attempts = harness.store.attempts(fits.cell_id)
    assert [a.status for a in attempts] == ["oom", "oom", "completed"]
    assert attempts[-1].overrides == [["DATALOADER.BATCH_SIZE", 16], ["SOLVER.GRAD_ACCUM", 4]]
    assert attempts[-1].result["batch"] == 16 and attempts[-1].result["accum"] == 4  # the child saw them
    assert harness.statuses(never) == ["oom", "oom", "oom"]  # 32 -> 16 -> 8 = the floor
    assert report.exit_code == 1


def test_nonfinite_is_final(harness) -> None:
    cell = harness.cell("nan", {"nonfinite": True})
    harness.run([cell], retries=3)
    assert harness.statuses(cell) == ["nonfinite"]
    assert "loss is nan" in harness.store.attempts(cell.cell_id)[0].error_tail


def test_timeout_kills_a_child_ignoring_sigterm_and_its_grandchild(harness) -> None:
    stubborn = harness.cell("stubborn", {"ignore_term": True, "grandchild": True, "epochs": 1, "sleep": 60})
    started = time.monotonic()
    report = harness.run([stubborn], timeout_s=1.5, grace_s=0.5)
    assert time.monotonic() - started < 10
    attempt = harness.store.attempts(stubborn.cell_id)[0]
    assert attempt.status == Status.TIMEOUT.value and report.exit_code == 1
    grandchild = int((Path(attempt.output_dir) / "grandchild.pid").read_text())
    try:
        os.kill(grandchild, 0)
        alive = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except ProcessLookupError:
        alive = False
    assert not alive
    assert os.path.exists(attempt.log_path) and "batch 64" in Path(attempt.log_path).read_text()


def test_unstartable_command_is_a_failed_attempt(harness) -> None:
    import dataclasses

    cell = dataclasses.replace(harness.cell("missing"), command=("/nonexistent/python", "x"))
    report = harness.run([cell], retries=0)
    attempt = harness.store.attempts(cell.cell_id)[0]
    assert attempt.status == "failed" and "cannot start" in attempt.error_tail and report.exit_code == 1
