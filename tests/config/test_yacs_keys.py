"""Checking hand-written YACS keys and values against config/defaults.py."""

from __future__ import annotations

import pytest
from yacs.config import CfgNode

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.config.yacs_keys import check_override, default_value, leaf_keys


@pytest.mark.parametrize("key, value, expected", [
    ("SOLVER.BASE_LR", 1, 1.0),
    ("SOLVER.BASE_LR", 0.01, 0.01),
    ("SOLVER.MAX_EPOCHS", 3.0, 3),
    ("SOLVER.NESTEROV", True, True),
    ("SOLVER.BETAS", (0.9, 0.99), [0.9, 0.99]),
    ("INPUT.PIXEL_MEAN", [0, 1, 0.5], [0.0, 1.0, 0.5]),
    ("SOLVER.MILESTONES", [2, 4.0], [2, 4]),
    ("WANDB.TAGS", ["a", "b"], ["a", "b"]),
    ("DATASETS.ROOT", "/data/x", "/data/x"),
    ("SEED", 7, 7),
])
def test_values_are_normalised_to_the_default_type(key, value, expected):
    result = check_override(key, value)
    assert result == expected and type(result) is type(expected)
    if isinstance(expected, list) and expected:
        assert all(type(item) is type(expected[0]) for item in result)


def test_normalised_values_merge_into_yacs():
    """What check_override returns is what yacs itself accepts when merging."""
    cfg = get_cfg_defaults()
    pairs = [("SOLVER.BASE_LR", 1), ("SOLVER.MAX_EPOCHS", 2.0), ("SOLVER.BETAS", (0.8, 0.9)), ("WANDB.TAGS", ["x"])]
    flat = [item for key, value in pairs for item in (key, check_override(key, value))]
    cfg.merge_from_other_cfg(CfgNode(_nest(flat)))
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_EPOCHS, cfg.SOLVER.BETAS) == (1.0, 2, [0.8, 0.9])


def _nest(flat: list) -> dict:
    tree: dict = {}
    for key, value in zip(flat[::2], flat[1::2]):
        section, name = key.split(".")
        tree.setdefault(section, {})[name] = value
    return tree


@pytest.mark.parametrize("key, value, message", [
    ("SOLVER.BASE_LRR", 0.1, "unknown YACS key 'SOLVER.BASE_LRR'; did you mean SOLVER.BASE_LR?"),
    ("solver.base_lr", 0.1, "unknown YACS key 'solver.base_lr'; did you mean SOLVER.BASE_LR?"),
    ("LOSS.NAMEE", "x", "unknown YACS key 'LOSS.NAMEE'; did you mean LOSS.NAME?"),
    ("TOTALLY.UNRELATED_THING", 1, "unknown YACS key 'TOTALLY.UNRELATED_THING'"),
    ("SOLVER.MAX_EPOCHS", "two", "expected int, got str 'two'"),
    ("SOLVER.MAX_EPOCHS", True, "expected int, got bool True"),
    ("SOLVER.MAX_EPOCHS", 2.5, "expected int, got float 2.5"),
    ("SOLVER.BASE_LR", "fast", "expected float, got str 'fast'"),
    ("SOLVER.BASE_LR", None, "expected float, got null"),
    ("SOLVER.AMP", 1, "expected bool, got int 1"),
    ("MODEL.NAME", 5, "expected str, got int 5"),
    ("SOLVER.BETAS", 0.9, "expected list, got float 0.9"),
    ("SOLVER.BASE_LR", [0.1], "expected float, got list [0.1]"),
    ("SOLVER.BETAS", [0.9, "x"], "list item: expected float, got str 'x'"),
    ("WANDB.TAGS", [["nested"]], "expected a list of plain values, got item list ['nested']"),
    ("SOLVER.MAX_EPOCHS", {"a": 1}, "expected int, got mapping"),
])
def test_bad_keys_and_values_are_explained(key, value, message):
    with pytest.raises(ValueError) as caught:
        check_override(key, value)
    assert str(caught.value) == message


def test_a_section_is_not_a_setting():
    with pytest.raises(ValueError, match=r"^EARLY_STOPPING is a section, not a setting; its keys: "
                                         r"EARLY_STOPPING.ENABLE, EARLY_STOPPING.MIN_DELTA, EARLY_STOPPING.PATIENCE$"):
        check_override("EARLY_STOPPING", {"PATIENCE": 2})


def test_leaf_keys_cover_the_whole_schema():
    keys = leaf_keys()
    assert keys == sorted(keys) and "SOLVER.BASE_LR" in keys and "SEED" in keys and "SOLVER" not in keys
    cfg = get_cfg_defaults()
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert default_value(key) == node
