"""Optional TensorBoard event files under OUTPUT_DIR/tb (``TENSORBOARD.ENABLE``).

The same scalars as W&B, for people who keep TensorBoard open. Like W&B, a
failure here is logged and never fails the run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("hyperparameter_system.train")


class TensorBoardSink:
    """A SummaryWriter that switches itself off at the first error."""

    def __init__(self, output_dir: str | Path) -> None:
        self.writer: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(output_dir) / "tb"))
        except Exception as exc:  # tensorboard missing or folder unwritable
            log.warning("TensorBoard is off for this run: %s: %s", type(exc).__name__, exc)

    def log_train(self, iteration: int, values: dict[str, float]) -> None:
        """Per-iteration scalars."""
        self._write(values, iteration)

    def log_evaluation(self, record: dict[str, Any]) -> None:
        """One evaluation's metrics, at the epoch as step."""
        self._write({k: v for k, v in record.items() if "/" in k}, int(record["epoch"]))

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _write(self, values: dict[str, Any], step: int) -> None:
        if self.writer is None:
            return
        try:
            for key, value in values.items():
                self.writer.add_scalar(key, float(value), step)
        except Exception as exc:
            log.warning("TensorBoard logging failed, off for this run: %s", exc)
            self.writer = None
