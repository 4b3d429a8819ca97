"""The fault battery drives real runner processes (tests/runner/fakes.py) with real signals.

One real digits cell, trained once per session with online W&B that cannot be
reached (``one_cell_run``, in fault_setup.py), serves the tests that only read
what it left: the one-warning offline fallback and the ``--best`` reproduce command.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))

from fault_setup import one_cell_run  # noqa: E402,F401  (the session's one real cell)
