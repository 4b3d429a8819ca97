"""Is an option's difference from the baseline more than one run's noise?

One run per cell cannot say: on a few hundred validation images two seeds of
the same training differ by about as much as most options do. With repeats
(``execution.repeats``) each option has a sample of best metrics, and the
difference of its mean from the baseline's mean is judged by Welch's t-test
(unequal variances, since an option may make training more or less stable)
at 5 %, with the matching 95 % interval for the difference.

"Better" and "significant in the goal's direction" both come from
:func:`better`, which asks :class:`~hyperparameter_system.config.goal.Goal`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from hyperparameter_system.config.goal import Goal

ALPHA = 0.05  # two-sided level of the test; the interval is its (1 - ALPHA) counterpart


def better(a: float, b: float, goal: str) -> bool:
    """True when ``a`` beats ``b`` under ``goal`` (ties are not better)."""
    return Goal(goal).better(a, b)


def mean(values: Sequence[float]) -> float | None:
    """The sample mean, None for no values."""
    return statistics.fmean(values) if values else None


def std(values: Sequence[float]) -> float | None:
    """The sample standard deviation (n - 1), None below two values."""
    return statistics.stdev(values) if len(values) >= 2 else None


@dataclass(frozen=True)
class Comparison:
    """An option's sample against the baseline's.

    Attributes:
        delta: Option mean minus baseline mean (raw: for a minimized metric a
            negative delta is an improvement).
        ci95: The 95 % Welch interval of ``delta``, None when either sample has
            fewer than two values.
        p_value: Two-sided p of Welch's t-test, None when it cannot be computed.
        significant: ``p < ALPHA`` and the option better under the goal; None
            when the test cannot be made.
    """

    delta: float | None
    ci95: tuple[float, float] | None = None
    p_value: float | None = None
    significant: bool | None = None


def compare(option: Sequence[float], baseline: Sequence[float], goal: str) -> Comparison:
    """Welch's t-test and interval of ``mean(option) - mean(baseline)``.

    Two samples without any spread (a deterministic trainer, or an option
    sharing the baseline's training) give a zero-width interval: equal means
    are no difference, different ones a certain one.
    """
    if not option or not baseline:
        return Comparison(delta=None)
    delta = statistics.fmean(option) - statistics.fmean(baseline)
    if len(option) < 2 or len(baseline) < 2:
        return Comparison(delta=delta)
    var_o = statistics.variance(option) / len(option)
    var_b = statistics.variance(baseline) / len(baseline)
    se = math.sqrt(var_o + var_b)
    if se == 0.0:
        p = 1.0 if delta == 0.0 else 0.0
        return Comparison(delta, (delta, delta), p, _significant(p, delta, goal))
    df = (var_o + var_b) ** 2 / (var_o ** 2 / (len(option) - 1) + var_b ** 2 / (len(baseline) - 1))
    from scipy.stats import t as student_t  # lazily: only a summary with repeats pays for scipy

    half = float(student_t.ppf(1 - ALPHA / 2, df)) * se
    p = float(2 * student_t.sf(abs(delta) / se, df))
    return Comparison(delta, (delta - half, delta + half), p, _significant(p, delta, goal))


def _significant(p: float, delta: float, goal: str) -> bool:
    """Beyond noise and in the goal's direction (a significant loss is no win)."""
    return p < ALPHA and better(delta, 0.0, goal)
