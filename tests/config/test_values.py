"""The value rules live once (config/values.py): the trainer's parts implement exactly its names.

The planner refuses what is not in these lists, so a name the trainer can
build but the list lacks (or the reverse) would make plan time and run time
disagree; these tests build every listed name with the real torch parts.
"""

from __future__ import annotations

import pytest

from hyperparameter_system.config import values
from hyperparameter_system.config.defaults import get_cfg_defaults


def test_planning_the_values_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, hyperparameter_system.config.values; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_every_listed_optimizer_scheduler_and_loss_builds():
    import torch
    from hyperparameter_system.training.losses import build_loss
    from hyperparameter_system.training.optim import build_optimizer, build_scheduler

    cfg = get_cfg_defaults()
    params = [torch.nn.Parameter(torch.zeros(2))]
    for name in values.OPTIMIZER_NAMES:
        cfg.SOLVER.OPTIMIZER = name
        optimizer = build_optimizer(cfg, params)
    for name in values.SCHEDULER_NAMES:
        cfg.SOLVER.SCHEDULER = name
        build_scheduler(cfg, optimizer, iters_per_epoch=3)
    for name in values.LOSS_NAMES:
        cfg.LOSS.NAME = name
        build_loss(cfg)


def test_the_trainer_metrics_are_what_its_evaluator_computes():
    import torch
    from hyperparameter_system.training.device import AmpSettings
    from hyperparameter_system.training.engine import create_evaluator

    evaluator = create_evaluator(torch.nn.Linear(2, 2), torch.nn.CrossEntropyLoss(), device=torch.device("cpu"),
                                 amp=AmpSettings(enabled=False, dtype=torch.float32, use_scaler=False,
                                                  device_type="cpu"))
    evaluator.run([(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))])
    assert sorted(f"val/{name}" for name in evaluator.state.metrics) == sorted(values.TRAINER_METRICS)


@pytest.mark.parametrize("key, value, reason", [
    ("SOLVER.MAX_EPOCHS", 0, "must be >= 1, got 0"),
    ("INPUT.HFLIP_PROB", 5.0, "must be in [0.0, 1.0], got 5.0"),
    ("METRIC.NAME", "val/accuracy", "must be one of val/acc, val/f1, val/loss, got 'val/accuracy'"),
    ("DATASETS.VAL_FRACTION", 1.0, "must be in (0.0, 1.0), got 1.0"),
])
def test_one_rule_one_message_for_planner_and_trainer(tmp_path, key, value, reason):
    from hyperparameter_system.errors import ConfigError
    from hyperparameter_system.training.validate import load_config

    assert values.value_problem(key, value) == reason
    config = tmp_path / "cell.yaml"
    section, name = key.split(".")
    config.write_text(f"{section}:\n  {name}: {value!r}\n".replace("'", ""), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(config), [])
    assert str(info.value) == f"{config}:2: {key}: {reason}"
