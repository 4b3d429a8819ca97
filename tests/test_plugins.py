"""Plugin loading: built-in folders, a dropped-in file, YAML categories, entry points, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from hyperparameter_system.errors import ConfigError, PluginError, UnknownNameError
from hyperparameter_system.plugin.loading import CHECKOUT_ROOT, clear_cache, load_plugins, plugin_folders

BUILTIN = plugin_folders()

EXTRA_CATEGORY = '''
from hyperparameter_system.category import BaseCategory
from hyperparameter_system.hookspecs import hookimpl

class Dropout(BaseCategory):
    name, prefix = "{name}", "drop"
    def validate(self, option):
        if not 0 <= option < 1:
            raise ValueError(f"dropout must be in [0, 1), but got {{option}}")
        return float(option)
    def apply(self, cfg, option):
        cfg.MODEL.DROPOUT = option
    def label(self, option):
        return f"p{{option}}"

@hookimpl
def register_categories(register):
    register(Dropout())
'''


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_builtins_load_from_the_checkout_without_importing_packages_named_categories():
    registry = load_plugins()
    assert sorted(registry.categories) == ["batch_size", "early_stopping", "image_size", "loss_function",
                                           "optimizer", "scheduler"]
    assert {"small_cnn", "resnet50.tv2_in1k", "tv/resnet18"} <= set(registry.model_names())
    assert "categories" not in sys.modules and "models" not in sys.modules
    assert load_plugins() is registry  # loaded once per process


def test_dropped_in_python_category(tmp_path):
    _write(tmp_path / "mine", "dropout.py", EXTRA_CATEGORY.format(name="dropout"))
    registry = load_plugins([*BUILTIN, tmp_path / "mine"])
    dropout = registry.category("dropout")
    assert dropout.label(dropout.validate(0.5)) == "p0.5"


def test_duplicate_category_names_both_sources(tmp_path):
    path = _write(tmp_path / "mine", "opt2.py", EXTRA_CATEGORY.format(name="optimizer"))
    with pytest.raises(PluginError, match=r"category 'optimizer' registered twice: by .*optimizer\.py and by "
                                          + str(path).replace(".", r"\.")):
        load_plugins([*BUILTIN, tmp_path / "mine"])


def test_unknown_names_list_known_ones():
    registry = load_plugins()
    with pytest.raises(UnknownNameError, match=r"Unknown category 'optimzer'.*'optimizer'.*known: batch_size, "
                                               r"early_stopping, image_size"):
        registry.category("optimzer")
    with pytest.raises(UnknownNameError, match=r"Unknown model 'resnet50\.tv2_in1'; did you mean 'resnet50\.tv2_in1k'"):
        registry.model_family("resnet50.tv2_in1")


def test_misspelt_hook_fails_loudly(tmp_path):
    _write(tmp_path / "bad", "typo.py", """
        from hyperparameter_system.hookspecs import hookimpl

        @hookimpl
        def register_categoris(register):
            pass
        """)
    with pytest.raises(PluginError, match="register_categoris"):
        load_plugins([tmp_path / "bad"])


def test_a_model_family_whose_imports_is_one_string_is_refused_naming_it(tmp_path):
    _write(tmp_path / "bad", "slip.py", """
        from hyperparameter_system.hookspecs import hookimpl
        from hyperparameter_system.model_spec import ModelSpec

        @hookimpl
        def register_models(register):
            register(ModelSpec(family="slip", names=lambda: ("slip_net",), build=None, imports=("timm")))
        """)
    with pytest.raises(PluginError, match=r"slip.py: register_models failed: .*'slip': imports must be a tuple"):
        load_plugins([tmp_path / "bad"])


def test_yaml_only_category(tmp_path):
    _write(tmp_path / "cats", "augmentation.yaml", """
        name: augmentation
        prefix: aug
        description: augmentation strength
        label: "flip{{ INPUT.HFLIP_PROB }}"
        options:
          - {INPUT.HFLIP_PROB: 0.0, INPUT.ROTATION_DEG: 0}
          - {INPUT.HFLIP_PROB: 0.5, INPUT.ROTATION_DEG: 10}
        """)
    category = load_plugins([tmp_path / "cats"]).category("augmentation")
    option = category.validate({"INPUT.HFLIP_PROB": 0.5, "INPUT.ROTATION_DEG": 10})
    assert option == {"INPUT.HFLIP_PROB": 0.5, "INPUT.ROTATION_DEG": 10.0}
    assert category.label(option) == "flip0.5"
    assert len(category.default_options) == 2
    assert category.sweep_parameters()["INPUT.HFLIP_PROB"] == {"values": [0.0, 0.5]}


def test_yaml_category_with_unknown_yacs_key_points_at_its_line(tmp_path):
    """Keys are checked against each model's schema when planned: --matrix exits 2 at the key's line."""
    path = _write(tmp_path / "categories", "aug.yaml", """
        name: aug
        prefix: aug
        options:
          - {INPUT.HFLIP_PROB: 0.5}
          - {INPUT.HFLIP_PROBB: 0.5}
        """)
    config = _write(tmp_path, "experiment.yaml", "experiment: {name: typo}\nmodels: [small_cnn]\n")
    out = _matrix(config, tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"error: {path}:6: options[1]: unknown YACS key 'INPUT.HFLIP_PROBB'; did you mean")
    assert "(model small_cnn trains with the built-in trainer)" in out.stderr


def test_yaml_category_label_naming_a_key_its_option_lacks_is_a_located_error(tmp_path):
    path = _write(tmp_path / "cats", "aug.yaml", """
        name: aug
        prefix: aug
        label: "flip{{ INPUT.HFLIP_PROB }}"
        options:
          - {INPUT.HFLIP_PROB: 0.5}
          - {INPUT.ROTATION_DEG: 10}
        """)
    with pytest.raises(ConfigError) as info:
        load_plugins([tmp_path / "cats"])
    message = str(info.value)
    assert message.startswith(f"{path}:7: options[1]: label template cannot be rendered for this option")
    assert "HFLIP_PROB" in message


def test_disable_plugins_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSYS_DISABLE_PLUGINS", "image_size,timm_models")
    registry = load_plugins()
    assert "image_size" not in registry.categories and "timm" not in registry.model_families


def test_entry_point_plugin_in_a_fresh_process(tmp_path):
    """A package installed with an entry point in group hyperparameter_system (a real dist-info on sys.path)."""
    site = tmp_path / "site"
    _write(site / "hpsys_dropout", "__init__.py", EXTRA_CATEGORY.format(name="dropout"))
    _write(site / "hpsys_dropout-1.0.dist-info", "METADATA", "Metadata-Version: 2.1\nName: hpsys-dropout\nVersion: 1.0\n")
    _write(site / "hpsys_dropout-1.0.dist-info", "entry_points.txt", "[hyperparameter_system]\ndropout = hpsys_dropout\n")
    code = ("import json; from hyperparameter_system.plugin.loading import load_plugins as L; r = L(); "
            "print(json.dumps([sorted(r.categories), r.category_source('dropout')]))")
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(extra_env):
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra_env}, cwd=tmp_path,
                             capture_output=True, text=True, check=False)
        return out

    names, source = json.loads(run({}).stdout)
    assert "dropout" in names and "optimizer" in names and source.startswith("entry point dropout")
    limited = run({"HPSYS_PLUGINS": "someone_else"})
    assert "Unknown category 'dropout'" in limited.stderr  # HPSYS_PLUGINS limits entry points


def test_folders_next_to_the_experiment_add_to_the_builtins(tmp_path):
    _write(tmp_path / "categories", "only.py", EXTRA_CATEGORY.format(name="only"))
    assert plugin_folders(tmp_path) == [*BUILTIN, (tmp_path / "categories").resolve()]
    assert plugin_folders(CHECKOUT_ROOT) == BUILTIN  # the checkout as the experiment folder loads once


def _readme_augmentation() -> str:
    """The README's own YAML category example, so the documented file is the tested one."""
    text = (CHECKOUT_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```yaml\nname: augmentation") + len("```yaml\n")
    return text[start:text.index("```", start)]


def _matrix(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--matrix",
                           "--config", str(config)], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"}, check=False)


def test_readme_category_next_to_the_experiment_file_adds_to_the_builtins(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _write(project / "categories", "augmentation.yaml", _readme_augmentation())
    config = _write(project, "experiment_config.yaml", """
        experiment: {name: adds_up}
        models: [small_cnn]
        categories:
          optimizer: [{name: SGD, lr: 0.1}]
        """)
    out = _matrix(config, elsewhere)
    assert out.returncode == 0, out.stderr
    assert "opt_SGD_lr0.1_" in out.stdout  # a built-in category still plans
    assert "aug_flip0.0_rot0.0_" in out.stdout and "aug_flip0.5_rot10.0_" in out.stdout
    assert "4 cells (1 model)" in out.stdout

    # The child is told the same folders (HPSYS_PLUGIN_PATH) and, started elsewhere, finds the same.
    from hyperparameter_system.commands.run import plugin_path
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.plugin.loading import experiment_plugin_folders

    spec = load_experiment(str(config))
    child = subprocess.run([sys.executable, "-c", "from hyperparameter_system.plugin.loading import plugin_folders as f; "
                            "print([str(p) for p in f()])"], cwd=elsewhere, capture_output=True, text=True,
                           env={**os.environ, "HPSYS_PLUGIN_PATH": plugin_path(spec)}, timeout=60, check=True)
    assert child.stdout.strip() == str([str(p) for p in experiment_plugin_folders(spec)])


def test_a_name_defined_next_to_the_experiment_and_built_in_names_both_files(tmp_path):
    mine = _write(tmp_path / "categories", "opt2.py", EXTRA_CATEGORY.format(name="optimizer"))
    with pytest.raises(PluginError, match=r"category 'optimizer' registered twice: by .*categories/optimizer\.py "
                                          r"and by " + str(mine).replace(".", r"\.")):
        load_plugins(plugin_folders(tmp_path))


def test_the_experiments_own_model_profile_wins_over_the_checkouts(tmp_path):
    _write(tmp_path / "models", "small_cnn.yaml", "SOLVER: {MAX_EPOCHS: 7}\n")
    registry = load_plugins(plugin_folders(tmp_path))
    assert registry.model_dirs[0] == (tmp_path / "models").resolve()
    assert "small_cnn" in registry.model_names()  # the built-in family is still there


@pytest.mark.parametrize("entry, labels", [
    ("{enabled: true}", ["flip0.0_rot0.0", "flip0.5_rot10.0"]),  # the file's own options
    ("{enabled: true, options: [{INPUT.HFLIP_PROB: 1.0, INPUT.ROTATION_DEG: 5}]}", ["flip1.0_rot5.0"]),
    ("{enabled: false}", []),
])
def test_a_folder_yaml_category_is_switched_by_the_experiment_file(tmp_path, entry, labels):
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for

    _write(tmp_path / "categories", "augmentation.yaml", _readme_augmentation())
    config = _write(tmp_path, "experiment.yaml", f"""
        experiment: {{name: switch}}
        models: [small_cnn]
        categories:
          augmentation: {entry}
        """)
    spec = load_experiment(str(config))
    cells = plan_matrix(spec, load_plugins_for(spec), now=datetime(2026, 11, 30))
    assert [c.option_label for c in cells if c.category == "augmentation"] == labels


def test_a_category_without_options_of_its_own_needs_them_in_the_experiment_file(tmp_path):
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix

    config = _write(tmp_path, "experiment.yaml", """
        experiment: {name: no_options}
        models: [small_cnn]
        categories:
          optimizer: {enabled: true}
        """)
    spec = load_experiment(str(config))
    with pytest.raises(ConfigError) as info:
        plan_matrix(spec, load_plugins(), now=datetime(2026, 11, 30))
    assert str(info.value) == (f"{config}:5: categories.optimizer: options required: category 'optimizer' "
                               "has no options of its own")
