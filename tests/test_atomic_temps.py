"""A write killed halfway leaves only a temporary file that the next run recognises and removes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hyperparameter_system.files.atomic import remove_stale_temps

KILLED_WRITE = """
import os, sys
from hyperparameter_system.files import atomic
os.replace = lambda *args: os.kill(os.getpid(), 9)  # die between the temporary file and the rename
atomic.write_text_atomic(sys.argv[1], "new")
"""


def test_a_write_killed_before_its_rename_leaves_the_old_file_and_a_removable_temp(tmp_path: Path) -> None:
    target = tmp_path / "cell.yaml"
    target.write_text("old")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], env=env, timeout=60)
    assert done.returncode == -9
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "cell.yaml"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".cell.yaml.")
    assert target.read_text() == "old"
    assert remove_stale_temps(tmp_path, older_than_s=30) == 0  # a young one may be a write in progress
    assert remove_stale_temps(tmp_path, older_than_s=0) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["cell.yaml"]
