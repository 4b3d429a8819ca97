"""A child's result.json and metrics.jsonl are untrusted input.

Real fake children (tests/runner/fake_child.py) write junk into the two files
and the real runner settles them: a broken file fails its attempt with a reason
naming the file, every other cell runs, and a resume after a kill -9 settles a
broken attempt instead of tripping on it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import make_cell, runner_argv, save_cells
from fault_setup import cli, summary, wait_for, write_experiment

from hyperparameter_system.child_contract import read_metrics, read_result
from hyperparameter_system.report.gather import read_cells
from hyperparameter_system.runner import PlainProgress, RetryPolicy, RunOptions, Runner, make_slots
from hyperparameter_system.store import Store, store_path

GOOD_RESULT = json.dumps({"status": "completed", "metric": "val/acc", "goal": "maximize", "best_metric": 0.9,
                          "best_epoch": 2, "final_metrics": {"val/acc": 0.9}, "epochs_run": 2, "duration_s": 1.0,
                          "error": None}).encode()
BIG = 50 * 1024 * 1024


def _result_cases(rng: random.Random) -> dict[str, tuple[bytes, str | None]]:
    """Junk result.json bytes -> the fault the attempt's error must name (None: readable after all)."""
    def with_(**changes: object) -> bytes:
        return json.dumps({**json.loads(GOOD_RESULT), **changes}).encode()

    cases: dict[str, tuple[bytes, str | None]] = {
        "list": (b"[1, 2, 3]", "expected a JSON object, got a list"),
        "number": (b"5", "expected a JSON object"),
        "latin1": ('{"status": "completed", "error": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
        "metrics_oops": (with_(final_metrics="oops"), "final_metrics: expected an object"),
        "metric_value_str": (with_(final_metrics={"val/acc": "high"}), "val/acc: expected a number"),
        "best_str": (with_(best_metric="0.9"), "best_metric: expected a number"),
        "epochs_huge": (with_(epochs_run=10**30), "epochs_run: expected a whole number"),
        "epochs_negative": (with_(epochs_run=-1), "epochs_run: expected a whole number"),
        "epoch_bool": (with_(best_epoch=True), "best_epoch: expected a whole number"),
        "status_running": (with_(status="running"), "status: expected one of"),
        "status_missing": (b'{"best_metric": 1}', "status: missing"),
        "error_list": (with_(error=["a"]), "error: expected a str"),
        "nested_deep": (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        "digits_5000": (b'{"status": "completed", "epochs_run": ' + b"9" * 5000 + b"}", "not valid JSON"),
        "binary": (bytes(rng.randrange(256) for _ in range(4096)), "result.json"),
        "empty": (b"", "not valid JSON"),
        "huge_file": (b'{"status": "completed", "error": "' + b"x" * BIG + b'"}', "larger than"),
        "nan_best": (with_(best_metric=float("nan")), "best_metric is nan"),
        "inf_best": (GOOD_RESULT.replace(b'"best_metric": 0.9', b'"best_metric": 1e999'), "best_metric is inf"),
        "inf_duration": (GOOD_RESULT.replace(b'"duration_s": 1.0', b'"duration_s": 1e999'), None),
        "long_error": (with_(status="failed", error="E" * 100_000), None),
    }
    for cut in sorted(rng.sample(range(1, len(GOOD_RESULT) - 1), 6)):
        cases[f"truncated_{cut}"] = (GOOD_RESULT[:cut], "not valid JSON")
    return cases


def _metrics_cases() -> dict[str, tuple[bytes, str | None]]:
    """Junk appended to a good metrics.jsonl -> the fault named (None: the line is fine or torn)."""
    return {
        "m_int": (b"5\n", "expected a JSON object, got an int"),
        "m_latin1": (b'{"epoch": 3, "val/acc": 0.5, "note": "\xe9"}\n', "not UTF-8"),
        "m_epoch_text": (b'{"epoch": "three", "val/acc": 0.5}\n', "epoch: expected a whole number"),
        "m_value_list": (b'{"epoch": 3, "val/acc": [0.5]}\n', "val/acc: expected a number"),
        "m_huge_int": (b'{"epoch": 3, "val/acc": ' + b"9" * 400 + b"}\n", "val/acc: expected a number"),
        "m_50mb_line": (b'{"epoch": 3, "pad": "' + b"x" * BIG + b'"}\n', "longer than"),
        "m_binary": (b"\x00\xff\x13garbage\x00\n", "metrics.jsonl: line 3"),
        "m_nan": (b'{"epoch": 3, "val/acc": NaN}\n', "metric val/acc is nan at evaluation 3"),
        "m_torn_last": (b'{"epoch": 3, "val/a', None),  # a kill mid-write: ignored
    }


def test_fuzzed_child_files_fail_only_their_own_attempt(tmp_path: Path) -> None:
    rng = random.Random(20261130)
    junk_dir = tmp_path / "junk"
    junk_dir.mkdir()
    cells, expected = [], {}
    for kind, cases in (("junk_result", _result_cases(rng)), ("junk_metrics", _metrics_cases())):
        for name, (data, fault) in cases.items():
            (junk_dir / name).write_bytes(data)
            cells.append(make_cell(tmp_path, name, {kind: str(junk_dir / name)}))
            expected[f"cell-{name}"] = (kind, fault)
    good = make_cell(tmp_path, "good")
    options = RunOptions(slots=tuple(make_slots("cpu", 2)), policy=RetryPolicy(retries=0), wandb_mode="disabled",
                         grace_s=1.0, timeout_s=60.0)  # a deadline per cell
    started = time.monotonic()
    with Store.open(store_path(tmp_path / "out", "exp"), experiment="exp") as store:
        report = Runner(store, tmp_path / "out" / "exp", options, PlainProgress(io.StringIO())).run([*cells, good])
        assert time.monotonic() - started < 200
        _check_fuzzed(store, cells, good, expected)
    assert report.exit_code == 1


def _check_fuzzed(store: Store, cells: list, good: object, expected: dict[str, tuple[str, str | None]]) -> None:
    assert [a.status for a in store.attempts(good.cell_id)] == ["completed"]  # type: ignore[attr-defined]
    rows = {r.cell.cell_id: r for r in read_cells(store)}  # the report reads the same rows back
    for cell in cells:
        kind, fault = expected[cell.cell_id]
        [attempt] = store.attempts(cell.cell_id)
        error = attempt.error_tail or ""
        if fault is None:
            assert attempt.status in ("completed", "failed"), (cell.cell_id, attempt.status, error)
            continue
        headline = error.splitlines()[0] if error else ""
        if " is nan" in fault or " is inf" in fault:  # a NaN or infinite metric: nonfinite, as the README says
            assert attempt.status == "nonfinite" and headline == fault, (cell.cell_id, attempt.status, headline)
            continue
        file_name = "result.json" if kind == "junk_result" else "metrics.jsonl"
        assert attempt.status == "failed", (cell.cell_id, attempt.status)
        assert f"{file_name}: " in headline and fault in headline, (cell.cell_id, headline[:300])
        assert len(headline) < 600
        assert rows[cell.cell_id].attempts[-1].status == "failed"
    assert not [a for a in store.attempts() if a.status == "running"]
    nan_best = store.attempts("cell-nan_best")[0]
    assert nan_best.status == "nonfinite" and nan_best.best_metric is None
    assert rows["cell-nan_best"].attempts[-1].status == "nonfinite"
    torn = store.attempts("cell-m_torn_last")[0]
    assert torn.status == "completed" and len(store.epochs(torn.id)) == 2


def test_a_fifo_or_device_link_in_place_of_a_child_file_fails_only_its_attempt(tmp_path: Path) -> None:
    """A FIFO would block the runner's open() forever; /dev/zero would fill its memory."""
    cases = {"fifo_result": ({"result.json": "fifo"}, "result.json: not a regular file (a FIFO)"),
             "zero_result": ({"result.json": "/dev/zero"}, "result.json: a symbolic link"),
             "zero_metrics": ({"metrics.jsonl": "/dev/zero"}, "metrics.jsonl: a symbolic link"),
             "fifo_metrics": ({"metrics.jsonl": "fifo"}, "metrics.jsonl: not a regular file (a FIFO)"),
             "fifo_log": ({"log.txt": "fifo", "result.json": "fifo"}, "result.json: not a regular file")}
    cells = [make_cell(tmp_path, name, {"special_files": files}) for name, (files, _) in cases.items()]
    good = make_cell(tmp_path, "good")
    cells_json = tmp_path / "cells.json"
    save_cells([*cells, good], cells_json)
    argv = runner_argv(cells_json, tmp_path / "out" / "exp", "--retries", "0", "--timeout", "60")
    runner = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert runner.wait(timeout=120) == 1  # a runner stuck in open() would never end
    finally:
        runner.kill()
    with Store.open(store_path(tmp_path / "out", "exp")) as store:
        assert [a.status for a in store.attempts(good.cell_id)] == ["completed"]
        for name, (_, fault) in cases.items():
            [attempt] = store.attempts(f"cell-{name}")
            headline = (attempt.error_tail or "").splitlines()[0]
            assert attempt.status == "failed" and fault in headline, (name, headline)


def test_a_pattern_matching_no_number_or_an_endless_last_line_is_said_plainly(tmp_path: Path) -> None:
    scripts = {"word": "print('acc hello', flush=True); print('done')",
               "long": "import sys; sys.stdout.write('loss 0.3 ' + 'z' * 20_000_000)"}
    cells = [dataclasses.replace(make_cell(tmp_path, name), command=(sys.executable, "-c", code),
                                 metric_patterns=(("acc", r"acc (\S+)"),)) for name, code in scripts.items()]
    options = RunOptions(slots=tuple(make_slots("cpu", 2)), policy=RetryPolicy(retries=0), wandb_mode="disabled",
                         grace_s=1.0, timeout_s=60.0)
    with Store.open(store_path(tmp_path / "out", "exp"), experiment="exp") as store:
        Runner(store, tmp_path / "out" / "exp", options, PlainProgress(io.StringIO())).run(cells)
        got = {a.cell_id: (a.status, (a.error_tail or "").splitlines()[0]) for a in store.attempts()}
    assert got["cell-word"] == ("failed", "metric_patterns acc matched 'hello', not a number")
    status, headline = got["cell-long"]
    assert status == "failed" and headline.startswith("no metric matched metric_patterns; last output line: "
                                                      "loss 0.3 zzz") and len(headline) < 600, headline[:200]


def test_a_childs_error_text_is_shown_cleaned_and_kept_as_written(tmp_path: Path) -> None:
    error = "\x1b[31m\x1b]0;pwned\x07<script>alert(1)</script> *boom* " + "E" * 2000 + "\x00"
    junk = tmp_path / "result.json"
    junk.write_text(json.dumps({"status": "failed", "error": error}))
    config = write_experiment(tmp_path, junk_result=str(junk))
    assert cli(config, "--all").returncode == 1
    table, markdown = (cli(config, "--summary", "--format", f).stdout for f in ("table", "md"))
    for text in (table, markdown):
        assert "\x1b" not in text and "\x00" not in text and "pwned" not in text
        assert max(len(line) for line in text.splitlines()) < 400  # long texts are cut in tables
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt; \\*boom\\* EEE" in markdown
    assert "failed: <script>alert(1)</script> *boom*" in table  # plain text in a terminal
    assert summary(config)["models"][0]["cells"][0]["error"].startswith(error[:60])  # the store keeps it as written


def test_readers_hand_out_typed_values_or_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(GOOD_RESULT.replace(b'"best_metric": 0.9', b'"best_metric": NaN'))
    result = read_result(path)
    assert result is not None and result.best_metric is None and result.final_metrics == {"val/acc": 0.9}
    assert read_result(tmp_path / "missing.json") is None
    log = tmp_path / "metrics.jsonl"
    log.write_bytes(b'{"epoch": 1, "val/acc": 0.5}\n\n5\n{"epoch": 2, "val/acc": 0.6}\n')
    read = read_metrics(log)
    assert read.records == [{"epoch": 1, "val/acc": 0.5}] and read.problem == f"{log}: line 3: expected a " \
                                                                             "JSON object, got an int (5)"




def test_resume_settles_a_broken_attempt_a_killed_runner_left_running(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_bytes(b'["a list, not an object"]')
    bad = make_cell(tmp_path, "bad", {"epochs": 1, "sleep": 1.5, "junk_result": str(junk)})
    good = make_cell(tmp_path, "good", {"epochs": 1, "sleep": 0.2})
    cells_json = tmp_path / "cells.json"
    save_cells([bad, good], cells_json)
    argv = runner_argv(cells_json, tmp_path / "out" / "exp", "--parallel", "1", "--retries", "0")
    path = store_path(tmp_path / "out", "exp")

    def bad_running() -> bool:
        if not path.exists():
            return False
        with Store.open(path) as store:
            return any(a.status == "running" and a.child_pid for a in store.attempts(bad.cell_id))

    runner = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(bad_running, "the bad cell to start")
        with Store.open(path) as store:
            [attempt] = store.attempts(bad.cell_id)
        runner.send_signal(signal.SIGKILL)
    finally:
        runner.kill()
        runner.wait(timeout=30)
    result = Path(attempt.output_dir or "") / "result.json"
    wait_for(result.exists, "the orphaned child to write its junk result.json")
    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    with Store.open(path) as store:
        [settled] = store.attempts(bad.cell_id)
        assert settled.status == "failed"
        assert (settled.error_tail or "").startswith(f"{result}: expected a JSON object, got a list")
        assert [a.status for a in store.attempts(good.cell_id)][-1] == "completed"
        assert not [a for a in store.attempts() if a.status == "running"]
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in again.stderr, again.stderr

