"""Report records made by hand, for tests that need no store: a planned cell wrapped as the store hands it out."""

from __future__ import annotations

from typing import Any

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.report.records import AttemptRecord, CellRecord, SweepTrial


def cell_record(*, attempts: tuple[AttemptRecord, ...] = (), sweep: SweepTrial | None = None,
                max_epochs: int | None = None, **cell: Any) -> CellRecord:
    """A record of the cell with ``cell``'s fields (experiment, group and tags empty unless given).

    ``max_epochs`` is both the planned value and the one the newest attempt ran
    with, as when no command line overrode it.
    """
    planned = Cell(**{"experiment": "", "group": "", "tags": (), **cell}, max_epochs=max_epochs)
    return CellRecord(planned, attempts=attempts, sweep=sweep, max_epochs_run=max_epochs)
