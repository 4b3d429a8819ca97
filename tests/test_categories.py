"""Contract tests over every registered category, plus each built-in's own rules."""

from __future__ import annotations

import copy
import warnings

import pytest

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.matrix.naming import safe_name
from hyperparameter_system.plugin.loading import load_plugins

REGISTRY = load_plugins()
CATEGORIES = sorted(REGISTRY.categories)

# One good and one bad option per built-in; a category added later must add its own
# here, or the contract test below fails for it (as datasette fails a hook without a test).
EXAMPLES = {
    "optimizer": ({"name": "SGD", "lr": 0.05, "nesterov": True}, {"name": "SGD", "lr": -0.1}),
    "scheduler": ({"name": "StepLR", "step_size": 1, "gamma": 0.5}, {"name": "StepLR", "gamma": 2}),
    "loss_function": ({"name": "FocalLoss", "gamma": 1}, {"name": "LabelSmoothingLoss", "smoothing": 1.0}),
    "image_size": (640, 4),
    "batch_size": ({"size": 16, "amp": True}, {"size": 0}),
    "early_stopping": ({"patience": 2, "min_delta": 0.01}, {"patience": 0}),
}


def _flat(cfg, prefix=""):
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _sample(parameters):
    """One point from a W&B ``parameters`` block, drawn by the real sweeps engine."""
    import sweeps

    config = {"method": "random", "metric": {"name": "val/acc", "goal": "maximize"}, "parameters": parameters}
    assert sweeps.schema_violations_from_proposed_config(config) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = sweeps.next_run(config, [], validate=True)
    return {key: value["value"] for key, value in run.config.items()}


def test_every_category_has_examples():
    assert set(CATEGORIES) >= set(EXAMPLES)
    assert set(CATEGORIES) - set(EXAMPLES) == set(), "add a good and a bad example for new categories"


@pytest.mark.parametrize("name", CATEGORIES)
def test_category_contract(name):
    category = REGISTRY.category(name)
    good, bad = EXAMPLES[name]
    canonical = category.validate(copy.deepcopy(good))
    assert category.validate(canonical) == canonical  # canonical is a fixed point
    if isinstance(canonical, dict):
        assert list(canonical) == sorted(canonical)
    with pytest.raises(ValueError):
        category.validate(bad)

    cfg = get_cfg_defaults()
    before = _flat(cfg)
    category.apply(cfg, canonical)
    after = _flat(cfg)
    assert after.keys() == before.keys()
    assert any(after[k] != before[k] for k in after), f"{name} changed nothing"

    label = category.label(canonical)
    assert label and safe_name(label) == label


@pytest.mark.parametrize("name", CATEGORIES)
def test_sweep_space_round_trips(name):
    category = REGISTRY.category(name)
    parameters = category.sweep_parameters()
    assert parameters, f"{name} declares no search space"
    for _ in range(5):
        point = _sample(parameters)
        option = category.validate(category.option_from_sweep(point))
        assert category.label(option)
        # A point nested under the category's name reads as the same option.
        assert category.validate(category.option_from_sweep({name: point})) == option


def test_a_plugin_without_its_own_option_from_sweep_reads_nested_points():
    from hyperparameter_system.category import BaseCategory

    class Dropout(BaseCategory):
        name, prefix = "dropout", "drop"
        validate = apply = label = lambda self, *args: None

    assert Dropout().option_from_sweep({"dropout": {"p": 0.1}}) == {"p": 0.1}
    assert Dropout().option_from_sweep({"p": 0.1, "dropout": {"q": 1}}) == {"p": 0.1, "dropout": {"q": 1}}


def test_optimizer_rules():
    opt = REGISTRY.category("optimizer")
    assert opt.label(opt.validate({"name": "AdamW", "lr": 0.001, "weight_decay": 0.001})) == "AdamW_lr0.001_wd0.001"
    with pytest.raises(ValueError, match="did you mean .*'AdamW'"):
        opt.validate({"name": "adamw", "lr": 0.1})
    with pytest.raises(ValueError, match="field 'betas' is not valid for SGD"):
        opt.validate({"name": "SGD", "lr": 0.1, "betas": [0.9, 0.99]})
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        opt.validate({"name": "SGD", "lr": 0.1, "momentum": 0, "nesterov": True})
    with pytest.raises(ValueError, match=r"lr must be > 0, but got lr=-0.1"):
        opt.validate({"name": "Adam", "lr": -0.1})


@pytest.mark.parametrize("size, batch", [(640, 32), (800, 16), (1024, 8), (1280, 4)])
def test_image_size_caps_batch(size, batch):
    category = REGISTRY.category("image_size")
    cfg = get_cfg_defaults()
    cfg.DATALOADER.BATCH_SIZE = 256
    category.apply(cfg, category.validate(size))
    assert (cfg.INPUT.SIZE, cfg.DATALOADER.BATCH_SIZE) == (size, batch)


def test_image_size_never_raises_batch_and_budget_is_configurable():
    category = REGISTRY.category("image_size")
    cfg = get_cfg_defaults()
    cfg.DATALOADER.BATCH_SIZE = 12
    category.apply(cfg, category.validate(32))
    assert cfg.DATALOADER.BATCH_SIZE == 12
    cfg.DATALOADER.BATCH_SIZE = 256
    category.apply(cfg, category.validate({"size": 640, "pixel_budget": 1.0}))
    assert cfg.DATALOADER.BATCH_SIZE == 1


def test_batch_size_scales_lr_linearly():
    category = REGISTRY.category("batch_size")
    cfg = get_cfg_defaults()  # batch 64, lr 1e-3
    category.apply(cfg, category.validate({"size": 128, "scale_lr": True}))
    assert cfg.DATALOADER.BATCH_SIZE == 128 and cfg.SOLVER.BASE_LR == pytest.approx(2e-3)
