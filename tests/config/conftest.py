"""Fixtures for experiment-file tests: write YAML into a temp folder, find lines in it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import pytest

# A valid experiment most tests start from and break in one place.
MINIMAL = """\
experiment:
  name: demo
models:
  - name: small_cnn
"""


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write dedented YAML text to ``tmp_path/<name>`` and return the path."""

    def write(text: str, name: str = "experiment.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def line_of() -> Callable[..., int]:
    """1-based line of the ``occurrence``-th line of ``text`` containing ``marker``.

    Tests compute expected error lines from their own YAML text with this, so a
    reordered fixture cannot silently keep a stale line number.
    """

    def find(text: str, marker: str, occurrence: int = 1) -> int:
        hits = [n for n, line in enumerate(textwrap.dedent(text).splitlines(), 1) if marker in line]
        assert len(hits) >= occurrence, f"{marker!r} not found {occurrence} times"
        return hits[occurrence - 1]

    return find
