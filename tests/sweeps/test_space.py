"""Every W&B parameter form: checked on the way in, and every draw lies inside it."""

from __future__ import annotations

import warnings

import pytest

from hyperparameter_system.sweeps.engine import suggest
from hyperparameter_system.sweeps.space import ParameterError, contains, normalize_parameters

EVERY_FORM = {
    "const": {"value": 7},
    "bare": [1, 2, 3],
    "cat": {"values": ["a", "b"]},
    "prob": {"values": ["x", "y", "z"], "probabilities": [0.2, 0.3, 0.5]},
    "uni": {"distribution": "uniform", "min": 0.5, "max": 0.99},
    "inferred_uni": {"min": 0.1, "max": 0.2},
    "int": {"distribution": "int_uniform", "min": 0, "max": 50},
    "inferred_int": {"min": 1, "max": 4},
    "logu": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "invlogu": {"distribution": "inv_log_uniform_values", "min": 1e-4, "max": 1e-2},
    "qu": {"distribution": "q_uniform", "min": 16, "max": 128, "q": 16},
    "qlogu": {"distribution": "q_log_uniform_values", "min": 1, "max": 100, "q": 0.5},
    "norm": {"distribution": "normal", "mu": 0.9, "sigma": 0.05},
    "qnorm": {"distribution": "q_normal", "mu": 3, "sigma": 1, "q": 1},
    "lognorm": {"distribution": "log_normal", "mu": -3, "sigma": 0.5},
    "qlognorm": {"distribution": "q_log_normal", "mu": 1, "sigma": 0.5, "q": 0.25},
    "beta": {"distribution": "beta", "a": 2, "b": 5},
    "nested": {"parameters": {"lr": {"min": 0.001, "max": 0.1}, "name": ["AdamW", "SGD"]}},
}


def test_shorthands_become_explicit_forms():
    params = normalize_parameters(EVERY_FORM)
    assert params["bare"] == {"values": [1, 2, 3]}
    assert params["inferred_uni"]["distribution"] == "uniform"
    assert params["inferred_int"]["distribution"] == "int_uniform"
    assert params["qu"]["q"] == 16 and params["norm"]["sigma"] == 0.05


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_every_draw_lies_in_its_distribution(method):
    forms = {k: v for k, v in EVERY_FORM.items() if method == "random" or k != "prob"}  # see below
    params = normalize_parameters(forms)
    config = {"method": method, "metric": {"name": "acc", "goal": "maximize"}, "parameters": params}
    from sweeps import RunState, SweepRun

    runs = []
    for i in range(25 if method == "random" else 6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            point = suggest(config, runs, seed=f"t:{i}")
        assert set(point) == set(params)
        for name, value in point.items():
            assert contains(params[name], value), (name, value, params[name])
            assert type(value).__module__ == "builtins"  # numpy scalars converted to plain Python
        runs.append(SweepRun(name=str(i), state=RunState.finished, summary_metrics={"acc": i / 10},
                             config={k: {"value": v} for k, v in point.items()}))


def test_contains_rejects_values_outside():
    params = normalize_parameters(EVERY_FORM)
    assert not contains(params["uni"], 1.5)
    assert not contains(params["int"], 2.5)
    assert not contains(params["qu"], 40)
    assert not contains(params["logu"], 0.5)
    assert not contains(params["cat"], "c")
    assert not contains(params["lognorm"], -1.0)
    assert not contains(params["nested"], {"lr": 0.5, "name": "SGD"})


@pytest.mark.parametrize("block, where, words", [
    ({"lr": {"min": 0.1, "max": 0.01}}, ("lr",), "min must be < max"),
    ({"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}, ("lr", "min"), "min > 0"),
    ({"lr": {"distribution": "log_uniform", "min": -9, "max": -2}}, ("lr", "distribution"),
     "use log_uniform_values"),
    ({"o": {"values": ["a", "b"], "probabilities": [0.5, 0.6]}}, ("o", "probabilities"), "sum to 1"),
    ({"o": {"values": ["a", "b"], "probabilities": [1.0]}}, ("o", "probabilities"), "expected 2"),
    ({"o": {"values": []}}, ("o", "values"), "non-empty"),
    ({"b": {"distribution": "int_uniform", "min": 1.5, "max": 4}}, ("b",), "integer min and max"),
    ({"b": {"distribution": "q_uniform", "min": 1, "max": 4, "q": 0}}, ("b", "q"), "q must be > 0"),
    ({"m": {"distribution": "normal", "sigma": -1}}, ("m", "sigma"), "sigma must be >= 0"),
    ({"m": {"distribution": "gaussian"}}, ("m", "distribution"), "unknown distribution"),
    ({"m": {"min": 1, "max": 2, "step": 1}}, ("m", "step"), "unexpected field"),
    ({"m": {"parameters": {"x": {"min": 2, "max": 1}}}}, ("m", "parameters", "x"), "min must be < max"),
    ({"9lives": [1]}, ("9lives",), "must match"),
])
def test_broken_parameters_name_the_parameter_and_the_rule(block, where, words):
    with pytest.raises(ParameterError) as caught:
        normalize_parameters(block)
    assert caught.value.path == where
    assert words in caught.value.reason


def test_bayes_refuses_probabilities_which_its_engine_cannot_model(tmp_path):
    from hyperparameter_system.errors import ConfigError
    from hyperparameter_system.sweeps.config import load_sweep_file

    path = tmp_path / "s.yaml"
    path.write_text("method: bayes\nparameters:\n  o:\n    values: [a, b]\n    probabilities: [0.5, 0.5]\n")
    with pytest.raises(ConfigError) as caught:
        load_sweep_file(str(path), metric="val/acc", goal="maximize")
    assert str(caught.value).startswith(f"{path}:1: method: bayes cannot use probabilities")
