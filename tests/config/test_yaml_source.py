"""The line-aware YAML loader other modules build their error messages on."""

from __future__ import annotations

import pytest

from hyperparameter_system.config.yaml_source import dotted, load_yaml_text, load_yaml_with_lines
from hyperparameter_system.errors import ConfigError

TEXT = """\
experiment:
  name: demo
categories:
  optimizer:
    options:
      - name: AdamW
        lr: 0.001
      - {name: SGD, lr: 0.1}
      -
        name: Adam
        betas: [0.9,
                0.99]
"""


def test_every_key_and_item_has_its_line():
    data, index = load_yaml_text(TEXT, "x.yaml")
    opts = ("categories", "optimizer", "options")
    assert data["categories"]["optimizer"]["options"][1] == {"name": "SGD", "lr": 0.1}
    assert index.line_of(()) == 1
    assert index.line_of(("experiment", "name")) == 2
    assert index.line_of(opts) == 5
    assert index.line_of(opts + (0,)) == 6 and index.line_of(opts + (0, "lr")) == 7
    assert index.line_of(opts + (1, "lr")) == 8
    # An item whose content starts on the next line: the item's line is where it begins.
    assert index.line_of(opts + (2,)) == 10 and index.line_of(opts + (2, "betas", 1)) == 12
    # A block value starts below its key.
    assert index.line_of(opts) == 5 and index.value_line_of(opts) == 6


def test_unknown_path_falls_back_to_nearest_known_parent():
    _, index = load_yaml_text(TEXT, "x.yaml")
    assert index.line_of(("categories", "optimizer", "options", 1, "momentum")) == 8
    assert index.line_of(("categories", "scheduler", "options")) == 3
    assert index.line_of(("nothing",)) == 1


def test_dotted_key_paths():
    assert dotted(("categories", "optimizer", "options", 2, "lr")) == "categories.optimizer.options[2].lr"
    assert dotted(("models", 0)) == "models[0]"
    assert dotted(()) == ""


def test_error_helper_builds_a_located_config_error():
    _, index = load_yaml_text(TEXT, "x.yaml")
    error = index.error(("categories", "optimizer", "options", 0, "lr"), "lr must be > 0, but got lr=-0.1")
    assert isinstance(error, ConfigError)
    assert str(error) == "x.yaml:7: categories.optimizer.options[0].lr: lr must be > 0, but got lr=-0.1"


@pytest.mark.parametrize("text, value", [
    ("v: 1e-3", 0.001), ("v: 5E+2", 500.0), ("v: .5", 0.5), ("v: -2.5e-4", -0.00025), ("v: 3", 3),
    ("v: 1_000", 1000), ("v: '1e-3'", "1e-3"), ("v: 1e", "1e"), ("v: off", False), ("v: .inf", float("inf")),
])
def test_scientific_notation_is_a_float(text, value):
    data, _ = load_yaml_text(text, "x.yaml")
    assert data["v"] == value and type(data["v"]) is type(value)


def test_duplicate_key_is_reported_at_the_second_occurrence():
    text = "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n"
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(text, "x.yaml")
    assert str(caught.value) == "x.yaml:5: b.c: duplicate key (first defined at line 3)"


def test_merge_key_values_may_be_overridden_but_not_repeated():
    data, index = load_yaml_text("base: &b {lr: 0.1, wd: 0.0}\nsgd:\n  <<: *b\n  lr: 0.2\n", "x.yaml")
    assert data["sgd"] == {"lr": 0.2, "wd": 0.0} and index.line_of(("sgd", "lr")) == 4
    with pytest.raises(ConfigError, match=r"^x.yaml:5: sgd.lr: duplicate key \(first defined at line 4\)$"):
        load_yaml_text("base: &b {lr: 0.1}\nsgd:\n  <<: *b\n  lr: 0.2\n  lr: 0.3\n", "x.yaml")


def test_syntax_error_names_the_line_of_the_problem():
    text = "a:\n  b: 1\n  c: [1, 2\n  d: 3\ne: 4\n"
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(text, "x.yaml")
    message = str(caught.value)
    assert message.startswith("x.yaml:4: YAML syntax error: while parsing a flow sequence")
    assert "\n" not in message


@pytest.mark.parametrize("text, expected", [
    ("x: !!python/name:os.system ''\n", "x.yaml:1: x: could not determine a constructor for the tag "
                                        "'tag:yaml.org,2002:python/name:os.system'"),
    ("x: !!python/object/apply:os.system ['id']\n", "x.yaml:1: x: unsupported YAML tag "
                                                    "tag:yaml.org,2002:python/object/apply:os.system"),
    ("x: !!python/object:os.path {}\n", "x.yaml:1: x: unsupported YAML tag tag:yaml.org,2002:python/object:os.path"),
    ("a: &r [1, *r]\n", "x.yaml:1: a[1]: recursive YAML alias is not supported"),
    ("? [1, 2]\n: x\n", "x.yaml:1: a mapping key must be a plain value"),
    ("a: 1\n---\nb: 2\n", "x.yaml:2: YAML syntax error: expected a single document in the stream, "
                          "but found another document"),
])
def test_unsafe_or_unsupported_yaml_is_refused(text, expected):
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(text, "x.yaml")
    assert str(caught.value).startswith(expected)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found$"):
        load_yaml_with_lines(tmp_path / "nope.yaml")
    (tmp_path / "blank.yaml").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match=r"blank.yaml:1: file is empty \(no YAML document\)$"):
        load_yaml_with_lines(tmp_path / "blank.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"bin.yaml: cannot read file"):
        load_yaml_with_lines(tmp_path / "bin.yaml")
