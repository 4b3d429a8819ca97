"""The matrix generator: validation first, stable order, ids and names, rendered configs."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from yacs.config import CfgNode

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.config.spec import CategoryEntry, ExperimentSpec, ModelEntry
from hyperparameter_system.errors import ConfigError, UnknownNameError
from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells
from hyperparameter_system.plugin.loading import load_plugins, plugin_folders

REGISTRY = load_plugins()
NOW = datetime(2026, 7, 9, 12, 0)


def make_spec(tmp_path: Path, models: Any = ("small_cnn",), categories: dict[str, list[Any]] | None = None,
              **kwargs: Any) -> ExperimentSpec:
    """An experiment with the given models and ``{category: [options]}`` writing under tmp_path."""
    categories = categories if categories is not None else {
        "optimizer": [{"name": "AdamW", "lr": 0.001, "weight_decay": 0.001}, {"name": "SGD", "lr": 0.05}],
        "image_size": [16, 24],
    }
    entries = tuple(m if isinstance(m, ModelEntry) else ModelEntry(name=m) for m in models)
    cats = tuple(CategoryEntry(name=n, options=tuple(o), option_lines=tuple(range(10, 10 + len(o))))
                 for n, o in categories.items())
    kwargs.setdefault("overrides", (("SOLVER.MAX_EPOCHS", 1),))
    return ExperimentSpec(source_path=str(tmp_path / "experiment_config.yaml"), name=kwargs.pop("name", "exp"),
                          output_dir=str(tmp_path / "output"), temp_config_dir=str(tmp_path / "temp_configs"),
                          models=entries, categories=cats, **kwargs)



def _plan(spec, **kwargs):
    return plan_matrix(spec, REGISTRY, now=kwargs.pop("now", NOW), **kwargs)


def test_order_names_and_projects(tmp_path):
    spec = make_spec(tmp_path, models=("small_cnn", "resnet50.tv2_in1k"))
    cells = _plan(spec)
    assert [(c.model, c.category, c.option_label) for c in cells[:6]] == [
        ("resnet50.tv2_in1k", "baseline", "default"),
        ("resnet50.tv2_in1k", "image_size", "16"), ("resnet50.tv2_in1k", "image_size", "24"),
        ("resnet50.tv2_in1k", "optimizer", "AdamW_lr0.001_wd0.001"),
        ("resnet50.tv2_in1k", "optimizer", "SGD_lr0.05_wd0.0001_m0.9"),
        ("small_cnn", "baseline", "default")]
    opt = cells[3]
    assert opt.run_name == "opt_AdamW_lr0.001_wd0.001_2607091200"
    assert (opt.project, opt.group, opt.tags) == ("resnet50_tv2_in1k", "optimizer",
                                                 ("resnet50.tv2_in1k", "optimizer", "exp"))
    assert cells[0].run_name == "base_default_2607091200"
    assert opt.overrides == (("SOLVER.MAX_EPOCHS", 1), ("SOLVER.WEIGHT_DECAY", 0.001))
    assert Path(opt.config_path) == tmp_path / "temp_configs/exp/resnet50_tv2_in1k/opt_AdamW_lr0.001_wd0.001_2607091200.yaml"


def test_deterministic_and_ids_survive_a_later_rerun(tmp_path):
    spec = make_spec(tmp_path)
    first, again = _plan(spec), _plan(spec)
    assert first == again
    paths = render_cells(first, spec, REGISTRY)
    data = [p.read_bytes() for p in paths]
    assert [p.read_bytes() for p in render_cells(again, spec, REGISTRY)] == data
    later = _plan(spec, now=NOW + timedelta(minutes=1))
    assert [c.cell_id for c in later] == [c.cell_id for c in first]
    assert later[0].run_name != first[0].run_name


def test_rendered_config_loads_back_identically_with_the_model_profile(tmp_path):
    spec = make_spec(tmp_path, models=("resnet50.tv2_in1k",), categories={"image_size": [1024]})
    cells = _plan(spec)
    path = render_cells(cells, spec, REGISTRY)[1]
    text = path.read_text()
    assert text.startswith("# hpsys cell config") and f'# cell id: "{cells[1].cell_id}"' in text
    cfg = get_cfg_defaults()
    cfg.merge_from_file(str(path))
    assert cfg.MODEL.PRETRAINED is True  # from models/resnet50.tv2_in1k.yaml
    assert (cfg.INPUT.SIZE, cfg.DATALOADER.BATCH_SIZE, cfg.SOLVER.MAX_EPOCHS) == (1024, 8, 1)
    assert (cfg.WANDB.PROJECT, cfg.WANDB.GROUP, cfg.WANDB.NAME) == ("resnet50_tv2_in1k", "image_size",
                                                                   cells[1].run_name)
    assert (cfg.METRIC.NAME, cfg.METRIC.GOAL) == ("val/acc", "maximize")
    with open(path) as handle:
        loaded = CfgNode.load_cfg(handle)
    assert loaded == cfg


def test_option_error_names_file_line_and_key_and_writes_nothing(tmp_path):
    spec = make_spec(tmp_path, categories={"optimizer": [{"name": "AdamW", "lr": 0.1}, {"name": "SGD", "lr": -1}]})
    with pytest.raises(ConfigError) as info:
        _plan(spec)
    assert str(info.value) == (f"{spec.source_path}:11: categories.optimizer.options[1]: "
                               "lr must be > 0, but got lr=-1")
    assert not (tmp_path / "temp_configs").exists()


def test_unknown_names(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown category 'optimzer'; did you mean 'optimizer'"):
        _plan(make_spec(tmp_path, categories={"optimzer": [{"name": "SGD"}]}))
    with pytest.raises(ConfigError, match=r"models\[0\]\.name: Unknown model 'smal_cnn'; did you mean 'small_cnn'"):
        _plan(make_spec(tmp_path, models=("smal_cnn",)))
    with pytest.raises(UnknownNameError, match="Unknown model 'resnet'"):
        _plan(make_spec(tmp_path), models=["resnet"])


def test_a_registered_category_without_options_is_named_as_such(tmp_path):
    spec = make_spec(tmp_path, categories={"optimizer": [{"name": "SGD", "lr": 0.1}]})
    with pytest.raises(UnknownNameError, match=r"category 'scheduler' has no options in .*: "
                                               r"add categories\.scheduler\.options there"):
        _plan(spec, categories=["scheduler"])


def test_duplicate_option_is_an_error(tmp_path):
    spec = make_spec(tmp_path, categories={"image_size": [16, {"size": 16}]})
    with pytest.raises(ConfigError, match=r"options\[1\]: same option as options\[0\]"):
        _plan(spec)


def test_selection(tmp_path):
    spec = make_spec(tmp_path)
    cells = _plan(spec, categories=["image_size"])
    assert [c.category for c in cells] == ["baseline", "image_size", "image_size"]


HOSTILE = ["; rm -rf ~", "../../x", "$(id)", "m" * 300, "模型/ünï", "..", "a.b", "a_b"]


def test_hostile_names_stay_inside_temp_configs_and_never_collide(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "canary-secret-3f9a1c")
    models = tuple(ModelEntry(name=n, command=("python", "train.py", "{{ config_path }}")) for n in HOSTILE)
    label = CategoryEntry(name="image_size", options=(16, 24, 32), label_template="{{ size }}; rm -rf ~ $(id) ../../")
    spec = dataclasses.replace(make_spec(tmp_path, models=models, categories={}), categories=(label,))
    cells = _plan(spec)
    paths = render_cells(cells, spec, REGISTRY)
    root = (tmp_path / "temp_configs").resolve()
    assert len(set(paths)) == len(cells) == len(HOSTILE) * 4
    assert len({c.project for c in cells}) >= len(HOSTILE) - 1  # a.b and a_b may share a project
    for path in paths:
        assert root in path.resolve().parents and len(path.name) <= 105
        assert "canary-secret-3f9a1c" not in path.read_text()
    assert not any(p.name.startswith(".") for p in root.rglob("*"))


def test_dropped_yaml_category_joins_the_matrix(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "aug.yaml").write_text(
        "name: aug\nprefix: aug\noptions:\n  - {INPUT.HFLIP_PROB: 0.5}\n")
    registry = load_plugins([*plugin_folders(), tmp_path / "cats"])
    cells = plan_matrix(make_spec(tmp_path), registry, now=NOW)
    aug = [c for c in cells if c.category == "aug"]
    assert [c.run_name for c in aug] == ["aug_hflip_prob0.5_2607091200"]
    assert aug[0].overrides[-1] == ("INPUT.HFLIP_PROB", 0.5)


def test_plan_cell_for_a_sweep_trial_renders_like_a_matrix_cell(tmp_path):
    from hyperparameter_system.hyperparameter_configs import plan_cell

    spec = make_spec(tmp_path)
    trial = plan_cell(spec, REGISTRY, "small_cnn", "optimizer", {"name": "SGD", "lr": 0.02}, now=NOW,
                      run_name="trial 1/../x")
    assert trial.run_name == "trial_1___x" and trial.option["lr"] == 0.02
    path = render_cells([trial], spec, REGISTRY)[0]
    cfg = get_cfg_defaults()
    cfg.merge_from_file(str(path))
    assert (cfg.SOLVER.OPTIMIZER, cfg.SOLVER.BASE_LR) == ("SGD", 0.02)


def test_model_profile_setting_a_key_twice_is_an_error_at_the_second(tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text("SOLVER.BASE_LR: 0.1\nSOLVER:\n  BASE_LR: 0.2\n", encoding="utf-8")
    spec = make_spec(tmp_path, models=(ModelEntry(name="small_cnn", base_config=str(profile)),))
    with pytest.raises(ConfigError) as caught:
        _plan(spec)
    assert str(caught.value) == f"{profile}:3: SOLVER.BASE_LR: SOLVER.BASE_LR is set twice"
    assert not (tmp_path / "temp_configs").exists()
