"""Which way is better: the experiment's metric goal, decided in one place.

Everything that compares two metric values (the trainer's best epoch, the
runner's outcome, the store's best attempt, the summary, plots, sweeps)
asks a :class:`Goal` rather than testing ``== "maximize"`` itself, so a
minimized metric is handled the same way everywhere. ``Goal`` is a
``StrEnum``: it equals and prints as ``maximize`` / ``minimize``, so files,
the environment and the store keep plain text. No torch, no wandb here:
planning, the runner, reports, sweeps and the trainer all import it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")

# A metric name with one of these in it is minimized unless the user says otherwise.
_MINIMIZED_NAME = re.compile(r"loss|err", re.I)


class Goal(StrEnum):
    """The direction of the deciding metric: ``Goal("minimize").better(0.1, 0.2)``."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    @classmethod
    def for_metric(cls, name: str) -> Goal:
        """The default goal of a metric named ``name``: loss- and error-like names are minimized."""
        return cls.MINIMIZE if _MINIMIZED_NAME.search(name) else cls.MAXIMIZE

    @classmethod
    def read(cls, text: str | None) -> Goal:
        """A goal read back from the store or a child's environment.

        Missing or unknown text (a damaged store, a hand-set variable) is the
        default, maximize: a value from disk never ends in a traceback.
        """
        try:
            return cls(text)
        except ValueError:
            return cls.MAXIMIZE

    @property
    def sign(self) -> float:
        """``1.0`` or ``-1.0``: a value times the sign is larger exactly when it is better."""
        return 1.0 if self is Goal.MAXIMIZE else -1.0

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` beats ``b`` (ties are not better)."""
        return a > b if self is Goal.MAXIMIZE else a < b

    def order_key(self, value: float) -> float:
        """A sort key that puts the best value first in ascending order."""
        return -self.sign * value

    def best(self, items: Iterable[T], key: Callable[[T], float]) -> T:
        """The best of ``items`` by ``key`` (the first one on ties); ValueError if empty."""
        return (max if self is Goal.MAXIMIZE else min)(items, key=key)


GOALS: tuple[str, ...] = tuple(goal.value for goal in Goal)
