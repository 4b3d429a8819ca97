"""Seeding of python, numpy, torch and loader workers: same config, same numbers.

Two runs of one config on the CPU must give identical metrics, so every source
of randomness is derived from ``cfg.SEED``: the global generators, each loader
worker (``worker_init_fn``) and the loader's shuffling generator.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_init_fn(worker_id: int) -> None:
    """Give each loader worker its own, reproducible numpy and python streams.

    torch already seeds a worker with ``base_seed + worker_id`` from the
    loader's generator; numpy and ``random`` are derived from that seed so
    augmentations are reproducible too.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator for loader shuffling, independent of the global stream."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def loader_seed_kwargs(seed: int) -> dict[str, Any]:
    """The DataLoader keyword arguments that make shuffling and workers reproducible."""
    return {"generator": make_generator(seed), "worker_init_fn": worker_init_fn}
