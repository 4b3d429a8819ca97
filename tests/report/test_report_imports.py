"""The report package's imports point one way: its ``__init__`` re-exports, its modules never import it back."""

from __future__ import annotations

import ast
from pathlib import Path

import hyperparameter_system.report as report

PACKAGE = "hyperparameter_system.report"


def _imports_of(path: Path) -> set[str]:
    """The module names ``path`` imports, ``from PACKAGE import x`` counted as importing PACKAGE itself."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_report_module_imports_its_own_package() -> None:
    folder = Path(report.__file__).parent
    offenders = sorted(p.name for p in folder.glob("*.py")
                       if p.name != "__init__.py" and PACKAGE in _imports_of(p))
    assert offenders == []  # e.g. best.py importing the package that imports best.py
