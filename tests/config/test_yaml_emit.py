"""The direct YAML writer of rendered configs: every value loads back as written, with yacs too."""

from __future__ import annotations

import yaml

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.config.yaml_emit import dump_sorted

ODD = {
    "TEXT": ["x y", "yes", "No", "null", "~", "1e5", "0x1f", "12:30", "-", "#c", "a: b", "'q'", "", "line\nbreak",
             "\u00e9\u0085\u0001", "./out", "../up", "/abs/path", ".5", ".inf", "..."],
    "NUMBERS": {"TINY": 1e-05, "BIG": 1e20, "INF": float("inf"), "NEG_INF": float("-inf"), "ZERO": -0.0, "INT": 3},
    "OTHER": {"TRUE": True, "NONE": None, "EMPTY_LIST": [], "EMPTY_MAP": {}},
    "Z KEY": 1,
}


def test_odd_values_and_keys_load_back_unchanged():
    assert yaml.safe_load(dump_sorted(ODD)) == ODD


def test_what_the_writer_leaves_to_pyyaml_loads_back_too():
    nested = {"A": [[1, 2], {"b": 1}], "EMOJI": "\U0001F600"}
    assert yaml.safe_load(dump_sorted(nested)) == nested


def test_the_defaults_are_written_as_pyyaml_writes_them_and_yacs_merges_them_back(tmp_path):
    cfg = get_cfg_defaults()
    text = dump_sorted(cfg)
    plain = yaml.safe_load(text)
    assert text == yaml.dump(plain, default_flow_style=False, sort_keys=True)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    merged = get_cfg_defaults()
    merged.merge_from_file(str(path))
    assert merged == cfg
