"""Cells share their model's base config: whatever a category plugin does, each cell's config is its own.

The planner tries each option on one reusable copy of the model's base and
puts it back; a plugin that points one list setting at another, changes a list in place, goes through yacs's
merge, sets a value of another type or replaces a whole section must still
get exactly the config a fresh copy would have, and the next option must not
see any of it.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import yaml
from yacs.config import CfgNode

from hyperparameter_system.config.spec import CategoryEntry, ExperimentSpec, ModelEntry
from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells
from hyperparameter_system.plugin.loading import clear_cache, load_plugins, plugin_folders

PLUGIN = '''
from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl

class Tweak(BaseCategory):
    name, prefix = "tweak", "tw"
    def validate(self, option):
        return str(option)
    def apply(self, cfg, option):
        if option == "alias":
            cfg.INPUT.PIXEL_STD = cfg.INPUT.PIXEL_MEAN
        elif option == "inplace":
            cfg.INPUT.PIXEL_MEAN[0] = 0.5
        elif option == "merge":
            cfg.merge_from_list(["SOLVER.BASE_LR", 0.5])
        elif option == "retyped":
            cfg.DATALOADER.BATCH_SIZE = float(cfg.DATALOADER.BATCH_SIZE)
        elif option == "section":
            section = cfg.INPUT.clone()
            section.SIZE = 48
            cfg.INPUT = section
    def label(self, option):
        return option

@hookimpl
def register_categories(register):
    register(Tweak())
'''
OPTIONS = ["alias", "inplace", "nothing", "merge", "retyped", "section", "nothing2"]
NAMING = ("OUTPUT_DIR", "WANDB.NAME", "WANDB.GROUP", "WANDB.TAGS")


def _without_naming(tree: dict) -> dict:
    tree = {k: dict(v) if isinstance(v, dict) else v for k, v in tree.items()}
    for key in NAMING:
        section, _, leaf = key.rpartition(".")
        (tree[section] if section else tree).pop(leaf)
    return tree


def test_each_option_gets_the_config_a_fresh_copy_would(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "tweak.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    clear_cache()
    try:
        registry = load_plugins([*plugin_folders(), folder])
        spec = ExperimentSpec(source_path=str(tmp_path / "experiment_config.yaml"), name="exp",
                              output_dir=str(tmp_path / "out"), temp_config_dir=str(tmp_path / "temp"),
                              models=(ModelEntry(name="small_cnn"),),
                              categories=(CategoryEntry(name="tweak", options=tuple(OPTIONS)),))
        cells = plan_matrix(spec, registry, now=datetime(2026, 7, 9, 12, 0))
    finally:
        clear_cache()
    paths = render_cells(cells, spec)
    rendered = {cell.option_label: yaml.safe_load(path.read_text()) for cell, path in zip(cells, paths)}
    base = rendered["default"]
    for option in OPTIONS:
        expected = CfgNode(base)
        registry.category("tweak").apply(expected, option)
        assert _without_naming(rendered[option]) == _without_naming(yaml.safe_load(expected.dump())), option
    assert rendered["inplace"]["INPUT"]["PIXEL_MEAN"] == [0.5, 0.456, 0.406]
    assert rendered["alias"]["INPUT"]["PIXEL_STD"] == [0.485, 0.456, 0.406]  # not the later option's change
    assert rendered["section"]["INPUT"]["SIZE"] == 48 and rendered["merge"]["SOLVER"]["BASE_LR"] == 0.5
    assert "DATALOADER.BATCH_SIZE: 64.0" in Path(paths[OPTIONS.index("retyped") + 1]).read_text().replace(
        "DATALOADER:\n  BATCH_SIZE", "DATALOADER.BATCH_SIZE")
    by_label = {cell.option_label: cell for cell in cells}
    # an option that sets nothing trains the baseline's config, even after options that changed the copy
    assert by_label["nothing"].same_as == by_label["nothing2"].same_as == by_label["default"].cell_id
    assert {by_label[o].same_as for o in ("alias", "inplace", "merge", "retyped", "section")} == {""}
    assert by_label["inplace"].overrides[-1] == ("INPUT.PIXEL_MEAN", [0.5, 0.456, 0.406])
    assert ("DATALOADER.BATCH_SIZE", 64.0) not in by_label["retyped"].overrides  # equal to the default


READER = '''
from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl

class Reader(BaseCategory):
    name, prefix = "reader", "rd"
    def validate(self, option):
        return str(option)
    def apply(self, cfg, option):
        if option == "attribute":
            cfg.DATALOADER.BATCH_SIZE = cfg.DATALOADER.BATCH_SIZE * 2
        elif option == "item":
            cfg["SOLVER"]["BASE_LR"] = cfg["SOLVER"]["BASE_LR"] / 10
        elif option == "get":
            cfg.SOLVER.WEIGHT_DECAY = cfg.SOLVER.get("BASE_LR")
        elif option == "copied":
            cfg.SOLVER.MOMENTUM = 0.5 if dict(cfg.DATALOADER)["BATCH_SIZE"] > 20 else 0.6
        elif option == "items":
            cfg.SOLVER.MAX_EPOCHS = 3 if ("BATCH_SIZE", 16) in cfg.DATALOADER.items() else 4
        elif option == "blind":
            cfg.SOLVER.BASE_LR = 0.3
    def label(self, option):
        return option

@hookimpl
def register_categories(register):
    register(Reader())
'''
READ_OPTIONS = ["attribute", "item", "get", "copied", "items", "blind"]


def test_an_option_that_reads_the_config_is_applied_to_each_models_own(tmp_path: Path) -> None:
    """An option's settings are reused for the next model only when its apply read nothing of the config."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "reader.py").write_text(textwrap.dedent(READER), encoding="utf-8")
    profiles = {}
    for name, batch, lr in (("a", 16, 0.01), ("b", 48, 0.02)):
        profiles[name] = tmp_path / f"{name}.yaml"
        profiles[name].write_text(f"DATALOADER.BATCH_SIZE: {batch}\nSOLVER.BASE_LR: {lr}\n", encoding="utf-8")
    clear_cache()
    try:
        registry = load_plugins([*plugin_folders(), folder])
        spec = ExperimentSpec(source_path=str(tmp_path / "experiment_config.yaml"), name="exp",
                              output_dir=str(tmp_path / "out"), temp_config_dir=str(tmp_path / "temp"),
                              models=(ModelEntry(name="small_cnn", base_config=str(profiles["a"])),
                                      ModelEntry(name="resnet10t.c3_in1k", base_config=str(profiles["b"]))),
                              categories=(CategoryEntry(name="reader", options=tuple(READ_OPTIONS)),))
        cells = plan_matrix(spec, registry, now=datetime(2026, 7, 9, 12, 0))
    finally:
        clear_cache()
    paths = render_cells(cells, spec)
    rendered = {(cell.model, cell.option_label): yaml.safe_load(path.read_text()) for cell, path in zip(cells, paths)}
    for model in ("small_cnn", "resnet10t.c3_in1k"):
        for option in READ_OPTIONS:
            expected = CfgNode(rendered[model, "default"])
            registry.category("reader").apply(expected, option)
            assert _without_naming(rendered[model, option]) == _without_naming(yaml.safe_load(expected.dump())), \
                (model, option)
    a, b = (lambda option: rendered["small_cnn", option], lambda option: rendered["resnet10t.c3_in1k", option])
    assert (a("attribute")["DATALOADER"]["BATCH_SIZE"], b("attribute")["DATALOADER"]["BATCH_SIZE"]) == (32, 96)
    assert (a("item")["SOLVER"]["BASE_LR"], b("item")["SOLVER"]["BASE_LR"]) == (0.001, 0.002)
    assert (a("get")["SOLVER"]["WEIGHT_DECAY"], b("get")["SOLVER"]["WEIGHT_DECAY"]) == (0.01, 0.02)
    assert (a("copied")["SOLVER"]["MOMENTUM"], b("copied")["SOLVER"]["MOMENTUM"]) == (0.6, 0.5)
    assert (a("items")["SOLVER"]["MAX_EPOCHS"], b("items")["SOLVER"]["MAX_EPOCHS"]) == (3, 4)
    assert a("blind")["SOLVER"]["BASE_LR"] == b("blind")["SOLVER"]["BASE_LR"] == 0.3
