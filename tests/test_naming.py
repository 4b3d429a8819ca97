"""Sanitising: whatever a user writes becomes one safe, bounded, stable path component."""

from __future__ import annotations

import re

import pytest

from hyperparameter_system.matrix.naming import format_number, model_safe, safe_name, unique_names

SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
HOSTILE = ["; rm -rf ~", "../../x", "$(id)", "x" * 300, "ünïcødé ✓ 模型", "..", ".hidden", "a/b\\c", "\n\t", "`id`"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_becomes_one_safe_component(text):
    name = safe_name(text)
    assert SAFE.match(name) and len(name) <= 100
    assert name not in (".", "..") and "/" not in name


def test_truncation_keeps_long_names_apart():
    a, b = safe_name("x" * 300 + "a"), safe_name("x" * 300 + "b")
    assert a != b and len(a) == len(b) == 100


def test_deterministic_and_readable():
    assert safe_name("opt_AdamW_lr0.001_wd0.001") == "opt_AdamW_lr0.001_wd0.001"
    assert safe_name("$(id)") == safe_name("$(id)") == "id"
    assert safe_name("café") == "cafe"


def test_model_safe_is_a_wandb_project():
    assert model_safe("resnet50.tv2_in1k") == "resnet50_tv2_in1k"
    assert model_safe("tv/resnet18") == "tv_resnet18"


def test_unique_names_suffixes_in_order():
    assert unique_names(["a", "b", "a", "a", "a-2"]) == ["a", "b", "a-2", "a-3", "a-2-2"]


def test_format_number():
    assert [format_number(v) for v in (0.001, 1e-05, 2.0, 3, True)] == ["0.001", "1e-05", "2", "3", "True"]
