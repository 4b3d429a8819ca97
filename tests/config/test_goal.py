"""One goal decides "better": the experiment file, the trainer and the report agree."""

from __future__ import annotations

import pytest

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.config.goal import Goal
from hyperparameter_system.report.stats import better
from hyperparameter_system.training.results import RunTracker


@pytest.mark.parametrize("metric, goal, best", [("val/loss", Goal.MINIMIZE, 0.2),
                                                ("val/acc", Goal.MAXIMIZE, 0.9)])
def test_every_stage_picks_the_same_best_under_the_metrics_default_goal(write_yaml, metric, goal, best):
    spec = load_experiment(str(write_yaml(f"experiment: {{name: d, metric: {metric}}}\nmodels: [m]\n")))
    assert spec.goal == goal and Goal.for_metric(metric) is goal
    values = [0.5, 0.9, 0.2, 0.9]
    tracker = RunTracker(spec.metric, spec.goal)
    for value in values:
        if tracker.is_better(value):
            tracker.best_metric = value
    assert tracker.best_metric == best
    assert goal.best(enumerate(values), key=lambda item: item[1]) == (values.index(best), best)  # first of ties
    assert better(best, 0.5, spec.goal) and not better(best, best, spec.goal)
    assert sorted(values, key=goal.order_key)[0] == best and goal.sign * best == max(goal.sign * v for v in values)


def test_a_goal_read_back_from_disk_or_the_environment_never_raises():
    assert Goal.read("minimize") is Goal.MINIMIZE
    assert Goal.read(None) is Goal.read("up") is Goal.MAXIMIZE  # missing or damaged: the default
