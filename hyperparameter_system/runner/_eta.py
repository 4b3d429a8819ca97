"""Estimated time to finish a set of cells, from durations measured in the store.

Each model's cells are assumed to take the median of that model's finished
attempts (models with no history take the median over all models); the
estimate then places cells greedily on ``parallel`` slots, longest first, the
way the scheduler will fill them.
"""

from __future__ import annotations

import contextlib
import heapq
import statistics
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    from hyperparameter_system.matrix.cell import Cell
    from hyperparameter_system.store import Store


def eta_seconds(durations_by_model: Mapping[str, Sequence[float]], models: Sequence[str],
                parallel: int = 1, running_elapsed: Sequence[tuple[str, float]] = ()) -> float | None:
    """Seconds until ``models`` (one entry per pending cell) are done, or None without history.

    Args:
        durations_by_model: ``Store.durations_by_model()``.
        models: The model of every cell still to run.
        parallel: Slots running at once.
        running_elapsed: ``(model, seconds so far)`` of cells already running.
    """
    medians = {m: statistics.median(d) for m, d in durations_by_model.items() if d}
    if not medians:
        return None
    fallback = statistics.median([d for ds in durations_by_model.values() for d in ds])
    slots = [max(0.0, medians.get(m, fallback) - done) for m, done in running_elapsed]
    slots += [0.0] * max(0, parallel - len(slots))
    heapq.heapify(slots)
    for cost in sorted((medians.get(m, fallback) for m in models), reverse=True):
        heapq.heappush(slots, heapq.heappop(slots) + cost)
    return max(slots) if slots else 0.0


def format_eta(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``42s``; ``?`` without history."""
    if seconds is None:
        return "?"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def eta_line(output_dir: str, experiment: str, cells: Sequence["Cell"], parallel: int) -> str:
    """``"12 to run; ETA 3m05s at parallel 2"`` from the experiment's store, if it has one."""
    with planning_store(output_dir, experiment) as store:
        return store_eta_line(store, cells, parallel)


@contextlib.contextmanager
def planning_store(output_dir: str, experiment: str) -> Iterator["Store | None"]:
    """The experiment's store opened read-only, or None when there is none yet.

    A plan (``--matrix``, ``--dry-run``) reads the store's creation time and
    history through this and writes nothing: a missing store is never created
    just to look at it, an existing one gets no transaction and no -wal/-shm.
    """
    from hyperparameter_system.store import Store, store_path

    path = store_path(output_dir, experiment)
    if not path.is_file():
        yield None
        return
    with Store.open_readonly(path) as store:
        yield store


def store_eta_line(store: "Store | None", cells: Sequence["Cell"], parallel: int, rerun: str | None = None) -> str:
    """The ETA line of ``cells`` from an open store: the cells a run with ``rerun`` would start.

    The store's claim rule decides, so a failed cell counts only with ``--rerun failed``.
    """
    if store is None:
        return f"{len(cells)} to run; ETA unknown until some cells have run"
    history = store.durations_by_model()
    to_run = store.would_run([c.cell_id for c in cells], rerun)
    todo = [c.model for c in cells if c.cell_id in to_run]
    return f"{len(todo)} to run; ETA {format_eta(eta_seconds(history, todo, parallel))} at parallel {parallel}"
