"""Fixtures for runner tests: a store and a runner over fake children (real subprocesses)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes import make_cell  # noqa: E402

from hyperparameter_system.matrix.cell import Cell  # noqa: E402
from hyperparameter_system.runner import PlainProgress, RetryPolicy, RunOptions, Runner, RunReport, make_slots  # noqa: E402
from hyperparameter_system.store import Store, store_path  # noqa: E402


class Harness:
    """A store under tmp plus a way to run cells against it in-process."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "out" / "exp"
        self.store = Store.open(store_path(tmp / "out", "exp"), experiment="exp")
        self.log = io.StringIO()

    def cell(self, name: str, fake: dict[str, Any] | None = None, **kwargs: Any) -> Cell:
        return make_cell(self.tmp, name, fake, **kwargs)

    def run(self, cells: list[Cell], **options: Any) -> RunReport:
        policy = RetryPolicy(retries=options.pop("retries", 1), min_batch_size=options.pop("min_batch_size", 1),
                             backoff_s=0.05)
        opts = RunOptions(slots=tuple(make_slots("cpu", options.pop("parallel", 2))), policy=policy,
                          wandb_mode="disabled", grace_s=options.pop("grace_s", 1.0), **options)
        return Runner(self.store, self.root, opts, PlainProgress(self.log)).run(cells)

    def statuses(self, cell: Cell) -> list[str]:
        return [a.status for a in self.store.attempts(cell.cell_id)]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path)
    yield made
    made.store.close()
