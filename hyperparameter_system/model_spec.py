"""What a model plugin registers: a family of model names and how to build them.

Planning only asks a family which names it knows (``names()`` must not import
torch); the trainer asks it to ``build`` one network. Heavy imports (torch,
timm, torchvision) belong inside ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """

    family: str
    names: Callable[[], Collection[str]]
    build: Callable[[str, int, Any], Any]
    description: str = ""
