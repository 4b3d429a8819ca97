"""The results store: claims, resume rules, crash safety, read API."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.store import Store, StoreError, store_path


def _cell(name: str) -> Cell:
    return Cell(cell_id=name, experiment="exp", model="m", category="optimizer", option={"lr": 0.1},
                option_label=name, run_name=f"opt_{name}", project="m", group="optimizer", tags=(),
                config_path="/c.yaml")


def _claim_all(path: str, session: str, names: list[str], queue: "multiprocessing.Queue[list[str]]") -> None:
    store = Store.open(path)
    queue.put([n for n in names if store.claim(n, session=session) is not None])


def _open_together(path: str, barrier: "multiprocessing.synchronize.Barrier",
                   queue: "multiprocessing.Queue[str]") -> None:
    barrier.wait()
    try:
        with Store.open(path, experiment="exp") as store:
            queue.put(store.meta("experiment") or "")
    except Exception as error:  # reported to the test, which names it
        queue.put(f"{type(error).__name__}: {error}")


def test_runners_started_together_all_open_a_new_store(tmp_path: Path) -> None:
    """Two runners launched at once on a new experiment both create the same store."""
    path = str(store_path(tmp_path, "exp"))
    for _ in range(5):  # the race is narrow: try it several times
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        for leftover in Path(path).parent.iterdir():
            leftover.unlink()
        barrier, queue = multiprocessing.Barrier(4), multiprocessing.Queue()
        workers = [multiprocessing.Process(target=_open_together, args=(path, barrier, queue)) for _ in range(4)]
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        assert results == ["exp"] * 4


def test_concurrent_processes_never_claim_the_same_cell(tmp_path: Path) -> None:
    path = store_path(tmp_path, "exp")
    names = [f"c{i}" for i in range(40)]
    with Store.open(path) as store:
        store.register_cells(_cell(n) for n in names)
    queue: multiprocessing.Queue[list[str]] = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_claim_all, args=(str(path), f"s{i}", names, queue)) for i in range(3)]
    for worker in workers:
        worker.start()
    claimed = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join()
    flat = sorted(n for got in claimed for n in got)
    assert flat == sorted(names)


def test_resume_rules_and_best_attempt(tmp_path: Path) -> None:
    with Store.open(store_path(tmp_path, "exp"), goal="maximize") as store:
        store.register_cells([_cell("a")])
        first = store.claim("a", session="s1")
        assert store.claim("a", session="s2") is None  # running elsewhere
        store.finish_attempt(first.id, "failed", exit_code=1)
        assert store.claim("a", session="s2") is None  # unsuccessful is final for a plain resume
        second = store.claim("a", session="s2", rerun="failed")
        store.finish_attempt(second.id, "completed", best_metric=0.9)
        assert store.claim("a", session="s3", rerun="failed") is None
        third = store.claim("a", session="s3", rerun="all")
        assert store.claim("a", session="s3", rerun="all") is None
        store.finish_attempt(third.id, "completed", best_metric=0.7)
        assert store.finish_attempt(third.id, "failed") is False  # finishing is once only
        [result] = store.cell_results()
        assert result.best.id == second.id and result.latest.id == third.id and result.n_attempts == 3
        assert store.durations_by_model()["m"] and len(store.durations_by_model()["m"]) == 2


def test_stale_claim_of_a_dead_runner_and_lease_expiry(tmp_path: Path) -> None:
    path = store_path(tmp_path, "exp")
    with Store.open(path) as store:
        store.register_cells([_cell("a"), _cell("b")])
        mine = store.claim("a", session="s1")
        expired = store.claim("b", session="s1", lease_s=-1)
        assert [a.id for a in store.stale_attempts()] == [expired.id]
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        with store.transaction() as tx:  # as if a runner that has exited had claimed it
            tx.execute("UPDATE attempts SET runner_pid = ? WHERE id = ?", (dead.pid, mine.id))
        assert {a.id for a in store.stale_attempts()} == {mine.id, expired.id}


def test_creation_time_is_kept_and_store_is_readable_by_plain_sqlite(tmp_path: Path) -> None:
    path = store_path(tmp_path, "exp")
    with Store.open(path) as store:
        created = store.created_at
        store.register_cells([_cell("a")])
        attempt = store.claim("a", session="s")
        store.add_epochs(attempt.id, [{"epoch": 1, "val/acc": 0.5}, {"epoch": 2, "val/acc": 0.6}])
        store.add_epochs(attempt.id, [{"epoch": 2, "val/acc": 0.6}], start_seq=1)  # copied twice: no duplicate
    with Store.open(path) as again:
        assert again.created_at == created
        assert [e.metrics["val/acc"] for e in again.epochs(attempt.id)] == [0.5, 0.6]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute('SELECT "group", option FROM cells').fetchone() == ("optimizer", '{"lr": 0.1}')


def test_creation_time_can_be_read_before_opening_and_set_on_creation(tmp_path: Path) -> None:
    from datetime import datetime

    path = store_path(tmp_path, "exp")
    assert Store.peek_created_at(path) is None
    assert not path.parent.exists()  # looking creates nothing
    planned = datetime(2026, 11, 23, 12, 0)
    with Store.open(path, experiment="exp", created_at=planned) as store:
        assert store.created_at == planned.astimezone()
    assert Store.peek_created_at(path) == planned.astimezone()
    with Store.open(path, experiment="exp", created_at=datetime(2030, 1, 1)) as store:
        assert store.created_at == planned.astimezone()  # an existing store keeps its time


def test_store_file_problems_are_one_store_error_naming_the_path(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_text("not a store")
    with pytest.raises(StoreError, match=rf"^{garbage}: not a readable results store \(file is not a database\)"):
        Store.open(garbage)
    assert garbage.read_text() == "not a store"
    path = store_path(tmp_path, "exp")
    with Store.open(path) as store:
        store.check_file()  # the file it opened: fine
        path.unlink()
        with pytest.raises(StoreError, match="vanished during the run"):
            store.check_file()
        path.write_text("")
        with pytest.raises(StoreError, match="replaced by another file"):
            store.check_file()


def test_attempt_json_reads_back_the_record_the_store_holds(tmp_path: Path) -> None:
    """attempt.json is a subset of the store's attempt record: a rebuild reads back what the store held."""
    import dataclasses

    from hyperparameter_system.store.attempt_file import add_outcome, read_attempt_file, write_attempt_file

    folder = tmp_path / "attempt-1"
    folder.mkdir()
    with Store.open(store_path(tmp_path, "exp"), experiment="exp") as store:
        cell = _cell("a")
        store.register_cells([cell])
        claimed = store.claim("a", session="s1", output_dir_for=lambda n: str(folder))
        assert claimed is not None
        launched = dataclasses.replace(claimed, command=("python", "-m", "x"), log_path=str(folder / "log"),
                                       env=(("OMP_NUM_THREADS", "1"),), cwd=str(tmp_path))
        write_attempt_file(folder, dataclasses.asdict(cell), launched, store.created_at.isoformat())
        assert isinstance(read_attempt_file(folder), tuple) and read_attempt_file(folder)[1].status == "running"
        store.update_attempt(claimed.id, command=list(launched.command), log_path=launched.log_path)
        store.finish_attempt(claimed.id, "failed", exit_code=1, metric="val/acc", best_metric=0.5, best_epoch=2,
                             epochs_run=3, error_tail="boom")
        add_outcome(store, claimed.id, folder)
        stored = store.attempt(claimed.id)
    read = read_attempt_file(folder)
    assert not isinstance(read, str) and stored is not None
    saved_cell, saved = read[0].cell, read[1]
    assert (saved_cell.cell_id, saved_cell.option, saved_cell.run_name) == ("a", {"lr": 0.1}, "opt_a")
    same = ("attempt", "cell_id", "status", "started_at", "ended_at", "duration_s", "exit_code", "command",
            "output_dir", "log_path", "session", "metric", "best_metric", "best_epoch", "epochs_run", "error_tail")
    assert {k: getattr(saved, k) for k in same} == {k: getattr(stored, k) for k in same}
    assert saved.env == (("OMP_NUM_THREADS", "1"),) and saved.cwd == str(tmp_path) and saved.error == "boom"
