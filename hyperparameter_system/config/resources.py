"""What one cell asks of a Ray cluster: ``{GPU: 1, CPU: 4}``, ``{GPU: 0.5}``, a node's own resource.

Read from ``execution.resources_per_cell`` and a model's ``resources``; Ray
places each cell's agent by them (and sets CUDA_VISIBLE_DEVICES from its GPUs).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hyperparameter_system.config.yaml_source import KeyPath

if TYPE_CHECKING:
    from hyperparameter_system.config.experiment import _Reader as Reader

Resources = tuple[tuple[str, float], ...]  # (name, amount), sorted by name
DEFAULT_RESOURCES: Resources = (("CPU", 1.0),)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


def read_resources(reader: Reader, key: KeyPath, value: Any) -> Resources:
    """A mapping of resource name -> amount (> 0; a GPU share below 1 packs cells on one GPU)."""
    pairs = []
    for name, amount in reader.mapping(key, value, None).items():
        if not _NAME_RE.fullmatch(name):
            raise reader.index.error(key + (name,), "not a resource name (CPU, GPU, memory or a node's own "
                                                    "resource from `ray start --resources`)")
        number = reader.number(key + (name,), amount, minimum=float("-inf"))  # one message for 0 and below
        if number <= 0:
            raise reader.index.error(key + (name,), f"must be > 0, got {amount!r} (leave the key out for none)")
        if name == "GPU" and number > 1 and number != int(number):
            raise reader.index.error(key + (name,), f"a share of one GPU (< 1) or whole GPUs, got {amount!r}")
        pairs.append((name, float(number)))
    if not pairs:
        raise reader.index.error(key, "expected at least one resource, e.g. {CPU: 1} or {GPU: 1, CPU: 4}")
    return tuple(sorted(pairs))
