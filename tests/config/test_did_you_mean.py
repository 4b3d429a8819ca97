"""A typo reads the same wherever it is made: one closest name, in one wording."""

from __future__ import annotations

import pytest

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.config.yacs_keys import check_override
from hyperparameter_system.errors import ConfigError, UnknownNameError
from hyperparameter_system.option_fields import choose_name
from hyperparameter_system.plugin.loading import load_plugins
from hyperparameter_system.sweeps.config import load_sweep_file


def _message(call) -> str:
    with pytest.raises((ConfigError, UnknownNameError, ValueError)) as err:
        call()
    return str(err.value)


def test_experiment_sweep_registry_option_and_yacs_typos_end_alike(write_yaml):
    experiment = write_yaml("experiment: {nmae: d}\nmodels: [m]\n")
    sweep = write_yaml("parameters: {base_lr: [0.1]}\ncuont: 3\n", "sweep.yaml")
    messages = [
        _message(lambda: load_experiment(str(experiment))),
        _message(lambda: load_sweep_file(str(sweep), metric="val/acc", goal="maximize")),
        _message(lambda: load_plugins().category("optimzer")),
        _message(lambda: choose_name("Adm", ("AdamW", "Adam", "SGD"), "optimizer")),
    ]
    expected = ["'name'?", "'count'?", "'optimizer'?", "'Adam'?"]
    for message, suggestion in zip(messages, expected):
        # One suggestion, quoted, even where several names are close.
        assert f"; did you mean {suggestion}" in message and " or " not in message, message
    # YACS keys are written bare, as in configs and docs; still one suggestion.
    assert _message(lambda: check_override("SOLVER.BASE_LRR", 0.1)).endswith("; did you mean SOLVER.BASE_LR?")
