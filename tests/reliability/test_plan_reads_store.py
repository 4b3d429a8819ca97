"""``--matrix`` and ``--dry-run`` only read the store: its file is untouched, and a runner
holding a write transaction neither blocks them nor changes their answer.

Real CLI processes on an experiment of fast fake children (fault_setup.py), and a
second real process holding ``BEGIN IMMEDIATE`` on the store while they plan.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

from hyperparameter_system.store import Store, store_path
from reliability.fault_setup import cli, write_experiment

HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('holder', 'uncommitted')")
print("held", flush=True)
sys.stdin.readline()  # hold the write lock until the test closes stdin
conn.execute("ROLLBACK")
"""


def _plans(config: Path) -> dict[str, str]:
    """What ``--matrix`` and ``--dry-run`` print (each must finish well before the runner would)."""
    answers = {}
    for flag in ("--matrix", "--dry-run"):
        done = cli(config, flag, "--parallel", "1", timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        answers[flag] = done.stdout
    return answers


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def _store_with_history(config: Path, out: Path) -> Path:
    """The experiment's store with two of its four cells finished in 40 s each (no -wal left)."""
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for

    spec = load_experiment(str(config))
    path = store_path(spec.output_dir, spec.name)
    with Store.open(path, experiment=spec.name, created_at=datetime(2026, 1, 2, 3, 4)) as store:
        cells = plan_matrix(spec, load_plugins_for(spec), now=store.created_at)
        store.register_cells(cells)
        for cell in cells[:2]:
            attempt = store.claim(cell.cell_id, session="s", output_dir_for=lambda n: str(out))
            assert attempt is not None
            store.finish_attempt(attempt.id, "completed", duration_s=40.0)
    return path


def test_plans_leave_the_store_untouched_and_do_not_wait_for_a_writer(tmp_path):
    config = write_experiment(tmp_path)
    path = _store_with_history(config, tmp_path / "attempt")
    before = _snapshot(path)
    free = _plans(config)
    assert all("2 to run; ETA 1m20s at parallel 1" in out for out in free.values()), free  # the store was read
    assert _snapshot(path) == before

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        wal = Path(f"{path}-wal")
        held = _snapshot(path), wal.read_bytes()
        locked = _plans(config)
        assert (_snapshot(path), wal.read_bytes()) == held  # neither the file nor the writer's log changed
    finally:
        holder.communicate("", timeout=30)
    assert locked == free  # the same answer, read past the lock
    assert holder.returncode == 0


def test_the_plans_count_of_cells_to_run_is_what_the_run_would_start(tmp_path):
    """A failed cell is run again only with --rerun failed; --matrix says the same as the run will do."""
    config = write_experiment(tmp_path, parallel=1)
    path = _store_with_history(config, tmp_path / "runs")
    with Store.open(path) as store:
        never_run = next(r.cell for r in store.cells() if not store.attempts(r.cell.cell_id))
        failed = store.claim(never_run.cell_id, session="s", output_dir_for=lambda n: str(tmp_path))
        store.finish_attempt(failed.id, "failed", duration_s=40.0)
    plain = cli(config, "--matrix", timeout=60)
    again = cli(config, "--matrix", "--rerun", "failed", timeout=60)
    assert plain.returncode == 0 and again.returncode == 0, plain.stderr + again.stderr
    assert "1 to run;" in plain.stdout, plain.stdout  # 4 cells: 2 completed, 1 failed (left), 1 never run
    assert "2 to run;" in again.stdout, again.stdout
