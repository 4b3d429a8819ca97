"""The fault battery drives real runner processes (tests/runner/fakes.py) with real signals."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
