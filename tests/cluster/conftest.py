"""One real two-node Ray cluster for the module's tests, on loopback only, in a private network namespace.

Skipped, with the reason, where such a namespace or ray is not available.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from loopback_cluster import LoopbackCluster, unavailable  # noqa: E402


@pytest.fixture(scope="session")
def cluster() -> Iterator[LoopbackCluster]:
    reason = unavailable()
    if reason:
        pytest.skip(f"no loopback Ray cluster here: {reason}")
    found = LoopbackCluster(extra_env={"PYTHONPATH": str(REPO)})
    found.start()
    try:
        yield found
    finally:
        found.stop()
