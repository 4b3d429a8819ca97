"""What a valid experiment file turns into: defaults, resolved paths, normalised values, lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.config.spec import ExecutionSettings, WandbSettings


def test_minimal_file_gets_documented_defaults(write_yaml, tmp_path):
    spec = load_experiment(str(write_yaml("experiment: {name: demo}\nmodels: [small_cnn]\n")))
    assert (spec.name, spec.metric, spec.goal, spec.include_baseline) == ("demo", "val/acc", "maximize", True)
    assert spec.output_dir == str(tmp_path.resolve() / "output")
    assert spec.temp_config_dir == str(tmp_path.resolve() / "temp_configs")
    assert spec.wandb == WandbSettings() and spec.execution == ExecutionSettings()
    assert [m.name for m in spec.models] == ["small_cnn"] and spec.models[0].command is None
    assert spec.categories == () and spec.overrides == ()


def test_relative_paths_follow_the_file_not_the_cwd(write_yaml, tmp_path, monkeypatch):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "net.yaml").write_text("MODEL: {NAME: small_cnn}\n")
    path = write_yaml("""\
        experiment:
          name: demo
          output_dir: runs
          temp_config_dir: ../shared/temp
          plugin_dirs: [plugins]
        models:
          - {name: small_cnn, base_config: profiles/net.yaml}
        """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_experiment(str(path))
    root = tmp_path.resolve()
    assert spec.output_dir == str(root / "runs")
    assert spec.temp_config_dir == str(root.parent / "shared" / "temp")
    assert spec.plugin_dirs == (str(root / "plugins"),)
    assert spec.models[0].base_config == str(root / "profiles" / "net.yaml")
    assert not (root / "runs").exists()  # loading creates nothing


def test_overrides_are_type_normalised_and_nested_form_matches_dotted(write_yaml):
    dotted = load_experiment(str(write_yaml("""\
        experiment:
          name: demo
          overrides:
            SOLVER.BASE_LR: 1e-3
            SOLVER.MAX_EPOCHS: 2.0
            INPUT.PIXEL_MEAN: [0, 0.5, 1]
            WANDB.TAGS: [smoke, cpu]
        models: [small_cnn]
        """, "a.yaml")))
    nested = load_experiment(str(write_yaml("""\
        experiment:
          name: demo
          overrides:
            SOLVER: {BASE_LR: 0.001, MAX_EPOCHS: 2}
            INPUT: {PIXEL_MEAN: [0.0, 0.5, 1.0]}
            WANDB: {TAGS: [smoke, cpu]}
        models: [small_cnn]
        """, "b.yaml")))
    expected = {"SOLVER.BASE_LR": 0.001, "SOLVER.MAX_EPOCHS": 2, "INPUT.PIXEL_MEAN": [0.0, 0.5, 1.0],
                "WANDB.TAGS": ["smoke", "cpu"]}
    assert dict(dotted.overrides) == dict(nested.overrides) == expected
    assert type(dict(dotted.overrides)["SOLVER.MAX_EPOCHS"]) is int
    assert all(type(v) is float for v in dict(dotted.overrides)["INPUT.PIXEL_MEAN"])


def test_override_set_twice_through_both_forms_is_an_error(write_yaml, line_of):
    text = """\
        experiment:
          name: demo
          overrides:
            SOLVER.MAX_EPOCHS: 2
            SOLVER: {MAX_EPOCHS: 3}
        models: [small_cnn]
        """
    path = write_yaml(text)
    with pytest.raises(Exception) as caught:
        load_experiment(str(path))
    line = line_of(text, "SOLVER: {")
    assert str(caught.value) == f"{path}:{line}: experiment.overrides.SOLVER.MAX_EPOCHS: SOLVER.MAX_EPOCHS is set twice"


@pytest.mark.parametrize("value, expected", [
    ("auto", "auto"), ("cpu", "cpu"), ('"0,1"', "0,1"), ("0", "0"), ("[0, 1, 3]", "0,1,3"), ('"0, 1"', "0,1"),
])
def test_devices_forms(write_yaml, value, expected):
    spec = load_experiment(str(write_yaml(f"experiment: {{name: d}}\nmodels: [m]\nexecution: {{devices: {value}}}\n")))
    assert spec.execution.devices == expected


def test_execution_and_wandb_settings_are_read(write_yaml):
    spec = load_experiment(str(write_yaml("""\
        experiment: {name: demo, include_baseline: false}
        models: [small_cnn]
        execution: {parallel: 4, devices: "0,1", timeout: 90, retries: 0, min_batch_size: 4}
        wandb: {mode: offline, entity: team, project: "hp-{{ model_safe }}", run_name: "{{ label }}"}
        """)))
    assert spec.execution == ExecutionSettings(parallel=4, devices="0,1", timeout_s=90.0, retries=0, min_batch_size=4)
    assert spec.wandb == WandbSettings(mode="offline", entity="team", project_template="hp-{{ model_safe }}",
                                       run_name_template="{{ label }}")
    assert spec.include_baseline is False


@pytest.mark.parametrize("metric, name, goal", [
    ("val/loss", "val/loss", "minimize"),
    ("val/f1", "val/f1", "maximize"),
    ("{name: val/loss, goal: maximize}", "val/loss", "maximize"),
    ("{name: val/mAP}", "val/mAP", "maximize"),
])
def test_metric_goal_is_inferred_only_when_omitted(write_yaml, metric, name, goal):
    spec = load_experiment(str(write_yaml(f"experiment: {{name: d, metric: {metric}}}\nmodels: [m]\n")))
    assert (spec.metric, spec.goal) == (name, goal)


def test_models_commands_and_patterns(write_yaml):
    spec = load_experiment(str(write_yaml("""\
        experiment: {name: demo}
        models:
          - small_cnn
          - name: reid
            enabled: false
            description: my own script
            command: ../venv/bin/python tools/train.py --config_file "{{ config_path }}" --epochs 2
            metric_patterns:
              val/mAP: 'mAP: ([0-9.]+)%'
              val/rank1: 'Rank-1\\s*:([0-9.]+)%'
          - name: script
            command: [bash, run_b3.sh, 3]
        """)))
    plain, reid, script = spec.models
    assert (plain.name, plain.enabled, plain.command) == ("small_cnn", True, None)
    assert reid.command == ("../venv/bin/python", "tools/train.py", "--config_file", "{{ config_path }}",
                            "--epochs", "2")
    assert reid.enabled is False and reid.description == "my own script"
    assert reid.metric_patterns == (("val/mAP", "mAP: ([0-9.]+)%"), ("val/rank1", r"Rank-1\s*:([0-9.]+)%"))
    assert script.command == ("bash", "run_b3.sh", "3")


def test_category_entries_keep_options_and_their_lines(write_yaml, line_of):
    text = """\
        experiment: {name: demo}
        models: [small_cnn]
        categories:
          optimizer:
            description: optimizers
            prefix: o
            label: "{{ name }}-{{ lr }}"
            options:
              - {name: AdamW, lr: 1e-3}
              - name: SGD
                lr: 0.1
                momentum: 0.9
            sweep:
              method: bayes
              parameters: {lr: {min: 0.0001, max: 0.1}}
          image_size: [16, 24]
          loss_function:
            enabled: false
            options: [{name: CrossEntropyLoss}]
        """
    spec = load_experiment(str(write_yaml(text)))
    opt, img, loss = spec.categories
    assert [c.name for c in spec.categories] == ["optimizer", "image_size", "loss_function"]
    assert opt.options == ({"name": "AdamW", "lr": 0.001}, {"name": "SGD", "lr": 0.1, "momentum": 0.9})
    assert opt.option_lines == (line_of(text, "AdamW"), line_of(text, "name: SGD"))
    assert (opt.prefix, opt.label_template, opt.description) == ("o", "{{ name }}-{{ lr }}", "optimizers")
    assert opt.sweep == {"method": "bayes", "parameters": {"lr": {"min": 0.0001, "max": 0.1}}}
    assert opt.line == line_of(text, "optimizer:")
    assert img.options == (16, 24) and img.option_lines == (line_of(text, "image_size"),) * 2
    assert loss.enabled is False
    # A later check of one option field (by the matrix generator) can still find its line.
    assert spec.lines.line_of(("categories", "optimizer", "options", 1, "momentum")) == line_of(text, "momentum")
    error = spec.lines.error(("categories", "optimizer", "options", 1, "lr"), "lr must be > 0")
    assert str(error).endswith(f":{line_of(text, 'lr: 0.1')}: categories.optimizer.options[1].lr: lr must be > 0")


def test_loading_imports_neither_torch_nor_wandb(tmp_path):
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; from hyperparameter_system.config.experiment import load_experiment;"
            f"load_experiment({str(root / 'experiment_config.yaml')!r});"
            "print(sorted(m for m in ('torch', 'wandb', 'timm', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"
