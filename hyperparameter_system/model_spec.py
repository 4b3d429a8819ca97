"""What a model plugin registers: a family of model names and how to build them.

Planning only asks a family which names it knows (``names()`` must not import
torch); the trainer asks it to ``build`` one network. Heavy imports (torch,
timm, torchvision) belong inside ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection


@dataclass(frozen=True)
class ModelSpec:
    """A family of models a plugin can build.

    Attributes:
        family: Unique family name, e.g. ``small_cnn``, ``timm``, ``torchvision``.
        names: Returns every model name the family builds; cheap, no torch import.
        build: ``build(name, num_classes, cfg) -> torch.nn.Module`` where ``cfg``
            is the cell's frozen YACS config (MODEL.PRETRAINED, DROPOUT, INPUT.SIZE...).
        description: One line shown in menus and ``--matrix``.
        imports: Modules ``build`` imports that take seconds, e.g. ``("timm",)``: a run
            that trains this family has its warm-start server import them once for
            every cell, and a run that does not never pays for them.
    """

    family: str
    names: Callable[[], Collection[str]]
    build: Callable[[str, int, Any], Any]
    description: str = ""
    imports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # ("timm") is the string "timm": the server would import modules t, i and m.
        if isinstance(self.imports, str) or not all(isinstance(name, str) and name for name in self.imports):
            raise TypeError(f"model family {self.family!r}: imports must be a tuple of module names "
                            f"such as ('timm',), got {self.imports!r}")


def read_name_list(path: Path) -> tuple[str, ...]:
    """Model names shipped as a text file (one a line, ``#`` comments), so that
    ``names()`` answers without importing the library that builds them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
