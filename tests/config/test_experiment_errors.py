"""Every user mistake in an experiment file is one line ``path:line: key: reason``.

Each case breaks a valid file in one place; the expected line is computed from
the case's own YAML text (the ``marker`` line), and the test checks that
loading wrote nothing next to the file.
"""

from __future__ import annotations

import pytest

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.errors import ConfigError

_EXP_KEYS = "name, metric, output_dir, temp_config_dir, overrides, plugin_dirs, include_baseline"

# (case id, YAML text, marker, occurrence of the marker, expected "key: reason")
CASES = [
    ("syntax_error_tab", """\
        experiment:
          name: demo
        \tmetric: val/acc
        models: [small_cnn]
        """, "\t", 1, "YAML syntax error: while scanning for the next token, "
                      "found character '\\t' that cannot start any token"),
    ("duplicate_key", """\
        experiment:
          name: demo
        models: [small_cnn]
        categories:
          optimizer:
            options:
              - name: SGD
                lr: 0.1
                lr: 0.2
        """, "lr:", 2, "categories.optimizer.options[0].lr: duplicate key (first defined at line 8)"),
    ("unknown_key_did_you_mean", """\
        experiment:
          nmae: demo
        models: [small_cnn]
        """, "nmae", 1, f"experiment.nmae: unknown key; did you mean 'name'? (known: {_EXP_KEYS})"),
    ("unknown_top_level_section", """\
        experiment: {name: demo}
        models: [small_cnn]
        categoris:
          optimizer: {options: [{name: SGD}]}
        """, "categoris", 1, "categoris: unknown key; did you mean 'categories'? "
                             "(known: experiment, wandb, execution, models, categories)"),
    ("wrong_type_int", """\
        experiment: {name: demo}
        models: [small_cnn]
        execution:
          parallel: two
        """, "parallel", 1, "execution.parallel: expected int, got str 'two'"),
    ("bool_is_not_int", """\
        experiment: {name: demo}
        models: [small_cnn]
        execution:
          retries: yes
        """, "retries", 1, "execution.retries: expected int, got bool True"),
    ("below_minimum", """\
        experiment: {name: demo}
        models: [small_cnn]
        execution:
          parallel: 0
        """, "parallel", 1, "execution.parallel: must be >= 1, got 0"),
    ("wrong_type_mapping", """\
        experiment: {name: demo}
        models: [small_cnn]
        wandb: offline
        """, "wandb", 1, "wandb: expected mapping, got str 'offline'"),
    ("missing_name", """\
        experiment:
          metric: {name: val/acc, goal: maximize}
        models: [small_cnn]
        """, "experiment:", 1, "experiment.name: required key missing"),
    ("missing_experiment_section", """\
        # no experiment section
        models: [small_cnn]
        """, "models", 1, "experiment: required section missing"),
    ("missing_models", """\
        experiment:
          name: demo
        """, "experiment:", 1, "models: at least one model is required"),
    ("bad_enum_wandb_mode", """\
        experiment: {name: demo}
        models: [small_cnn]
        wandb:
          mode: offlne
        """, "offlne", 1, "wandb.mode: expected one of auto, online, offline, disabled, got 'offlne'; "
                          "did you mean 'offline'?"),
    ("bad_enum_metric_goal", """\
        experiment:
          name: demo
          metric: {name: val/acc, goal: max}
        models: [small_cnn]
        """, "goal", 1, "experiment.metric.goal: expected one of maximize, minimize, got 'max'"),
    ("bad_devices", """\
        experiment: {name: demo}
        models: [small_cnn]
        execution:
          devices: gpu0
        """, "devices", 1, "execution.devices: expected auto, cpu or GPU indices like 0,1, got 'gpu0'"),
    ("unknown_yacs_override", """\
        experiment:
          name: demo
          overrides:
            SOLVER.MAX_EPOCHS: 2
            SOLVER.BASE_LRR: 0.1
        models: [small_cnn]
        """, "BASE_LRR", 1, "experiment.overrides.SOLVER.BASE_LRR: unknown YACS key 'SOLVER.BASE_LRR'; "
                            "did you mean SOLVER.BASE_LR?"),
    ("unknown_nested_yacs_override", """\
        experiment:
          name: demo
          overrides:
            SOLVER:
              MAX_EPOCS: 2
        models: [small_cnn]
        """, "MAX_EPOCS", 1, "experiment.overrides.SOLVER.MAX_EPOCS: unknown YACS key 'SOLVER.MAX_EPOCS'; "
                             "did you mean SOLVER.MAX_EPOCHS?"),
    ("override_wrong_type", """\
        experiment:
          name: demo
          overrides:
            SOLVER.MAX_EPOCHS: two
        models: [small_cnn]
        """, "MAX_EPOCHS", 1, "experiment.overrides.SOLVER.MAX_EPOCHS: expected int, got str 'two'"),
    ("override_scalar_for_list", """\
        experiment:
          name: demo
          overrides:
            INPUT.PIXEL_MEAN: 0.5
        models: [small_cnn]
        """, "PIXEL_MEAN", 1, "experiment.overrides.INPUT.PIXEL_MEAN: expected list, got float 0.5"),
    ("override_list_for_scalar", """\
        experiment:
          name: demo
          overrides:
            SOLVER.BASE_LR: [0.1, 0.01]
        models: [small_cnn]
        """, "BASE_LR", 1, "experiment.overrides.SOLVER.BASE_LR: expected float, got list [0.1, 0.01]"),
    ("override_fractional_epochs", """\
        experiment:
          name: demo
          overrides: {SOLVER.MAX_EPOCHS: 2.5}
        models: [small_cnn]
        """, "MAX_EPOCHS", 1, "experiment.overrides.SOLVER.MAX_EPOCHS: expected int, got float 2.5"),
    ("override_section_not_setting", """\
        experiment:
          name: demo
          overrides:
            SOLVER: 3
        models: [small_cnn]
        """, "SOLVER", 1, None),  # message lists the section's keys; checked by prefix below
    ("bad_regex", """\
        experiment: {name: demo}
        models:
          - name: my_script
            command: [bash, run.sh]
            metric_patterns:
              val/mAP: 'mAP: ([0-9.]+%'
        """, "val/mAP", 1, "models[0].metric_patterns.val/mAP: invalid regex 'mAP: ([0-9.]+%': "
                           "missing ), unterminated subpattern at position 5"),
    ("regex_two_groups", """\
        experiment: {name: demo}
        models:
          - name: my_script
            command: [bash, run.sh]
            metric_patterns:
              val/acc: '(acc|ACC)=([0-9.]+)'
        """, "val/acc", 1, "models[0].metric_patterns.val/acc: regex must have exactly one group "
                           "(the value), got 2"),
    ("bad_jinja_label", """\
        experiment: {name: demo}
        models: [small_cnn]
        categories:
          optimizer:
            label: "{{ name }_lr{{ lr }}"
            options: [{name: SGD, lr: 0.1}]
        """, "label", 1, "categories.optimizer.label: invalid jinja2 template '{{ name }_lr{{ lr }}': "
                         "unexpected '}'"),
    ("empty_wandb_project", """\
        experiment: {name: demo}
        models: [small_cnn]
        wandb:
          project: ""
        """, "project", 1, "wandb.project: must not be empty"),
    ("bad_jinja_command", """\
        experiment: {name: demo}
        models:
          - name: my_script
            command: [python, train.py, --config, "{{ config_path"]
        """, "command", 1, "models[0].command[3]: invalid jinja2 template '{{ config_path': "
                           "unexpected end of template, expected 'end of print statement'."),
    ("duplicate_model", """\
        experiment: {name: demo}
        models:
          - name: small_cnn
          - name: tv/resnet18
          - name: small_cnn
            enabled: false
        """, "small_cnn", 2, "models[2].name: duplicate model name 'small_cnn' (first at line 3)"),
    ("empty_options", """\
        experiment: {name: demo}
        models: [small_cnn]
        categories:
          optimizer:
            options: []
        """, "options", 1, "categories.optimizer.options: options must list at least one option"),
    ("empty_option_item", """\
        experiment: {name: demo}
        models: [small_cnn]
        categories:
          image_size:
            options:
              - 16
              -
        """, "-", 2, "categories.image_size.options[1]: empty option"),
    ("category_unknown_key", """\
        experiment: {name: demo}
        models: [small_cnn]
        categories:
          optimizer:
            option: [{name: SGD}]
        """, "option:", 1, "categories.optimizer.option: unknown key; did you mean 'options'? "
                           "(known: enabled, description, options, prefix, label, sweep)"),
    ("unsafe_experiment_name", """\
        experiment:
          name: ../../etc
        models: [small_cnn]
        """, "name:", 1, "experiment.name: may use only letters, digits, '.', '_' and '-' and not start "
                         "with '.' (it names folders), got '../../etc'"),
    ("models_empty", """\
        experiment: {name: demo}
        models:
        """, "models", 1, "models: at least one model is required"),
    ("model_missing_name", """\
        experiment: {name: demo}
        models:
          - description: no name here
        """, "description", 1, "models[0].name: required key missing"),
    ("missing_plugin_dir", """\
        experiment:
          name: demo
          plugin_dirs: [./no_such_plugins]
        models: [small_cnn]
        """, "plugin_dirs", 1, "experiment.plugin_dirs[0]: plugin directory not found: {dir}/no_such_plugins"),
    ("missing_base_config", """\
        experiment: {name: demo}
        models:
          - name: small_cnn
            base_config: profiles/small.yaml
        """, "base_config", 1, "models[0].base_config: model profile not found: {dir}/profiles/small.yaml"),
]


@pytest.mark.parametrize("text, marker, occurrence, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_located_line_and_writes_nothing(write_yaml, line_of, tmp_path, text, marker,
                                                          occurrence, expected):
    path = write_yaml(text)
    with pytest.raises(ConfigError) as caught:
        load_experiment(str(path))
    message = str(caught.value)
    line = line_of(text, marker, occurrence)
    if expected is None:
        assert message.startswith(f"{path}:{line}: experiment.overrides.SOLVER: SOLVER is a section, not a setting;")
        assert "SOLVER.BASE_LR" in message
    else:
        assert message == f"{path}:{line}: " + expected.replace("{dir}", str(tmp_path.resolve()))
    assert "\n" not in message
    assert caught.value.line == line
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.yaml"]  # nothing written


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file(write_yaml, tmp_path, text):
    path = write_yaml(text)
    with pytest.raises(ConfigError) as caught:
        load_experiment(str(path))
    assert str(caught.value) == f"{path}:1: file is empty (no YAML document)"
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.yaml"]


def test_top_level_must_be_a_mapping(write_yaml):
    path = write_yaml("- small_cnn\n- tv/resnet18\n")
    with pytest.raises(ConfigError, match=r":1: expected mapping, got list \['small_cnn', 'tv/resnet18'\]$"):
        load_experiment(str(path))


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_experiment(str(path))
    assert str(caught.value) == f"{path}: file not found"


def test_message_names_the_file_as_the_user_wrote_it(write_yaml, monkeypatch, tmp_path):
    write_yaml("experiment: {name: demo}\nmodels: [small_cnn]\nexecution: {timeout: -1}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_experiment("experiment.yaml")
    assert str(caught.value) == "experiment.yaml:3: execution.timeout: must be >= 0, got -1"
