"""Model plugins: registered through the registry, cheap names, real builds and one training step."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.plugin.loading import load_plugins

from train_helpers import REPO, child_env

FAMILIES = ("small_cnn", "timm", "torchvision")


def tiny_cfg(size=16):
    cfg = get_cfg_defaults()
    cfg.INPUT.SIZE = size
    return cfg


def test_families_register_through_the_plugin_registry():
    registry = load_plugins()
    assert set(FAMILIES) <= set(registry.model_families)
    for name, family in (("small_cnn", "small_cnn"), ("resnet50.tv2_in1k", "timm"), ("efficientnet_b0", "timm"),
                         ("swin_tiny_patch4_window7_224", "timm"), ("tv/resnet18", "torchvision")):
        assert registry.model_family(name).family == family


def test_listing_names_imports_neither_torch_nor_timm():
    code = (
        "import sys; from hyperparameter_system.plugin.loading import load_plugins; r = load_plugins(); "
        "n = len(r.model_names()); print(n, sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=child_env(), capture_output=True, text=True,
                          timeout=60)
    count, heavy = proc.stdout.split(" ", 1)
    assert proc.returncode == 0, proc.stderr
    assert int(count) > 3000 and heavy.strip() == "[]"


def test_small_cnn_builds_for_any_size():
    registry = load_plugins()
    for size in (8, 13, 32):
        model = registry.build_model("small_cnn", 7, tiny_cfg(size))
        assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet10t", "tv/mobilenet_v3_small"])
def test_timm_and_torchvision_models_train_in_the_trainer(train_run, name):
    run = train_run({"MODEL.NAME": name, "SOLVER.MAX_EPOCHS": 1, "INPUT.SIZE": 16, "DATALOADER.BATCH_SIZE": 32,
                     "DATASETS.MAX_TRAIN_SAMPLES": 64})
    assert run.code == 0, run.log
    assert run.result["status"] == "completed" and run.metrics[0]["step"] == 2
    assert 0.0 <= run.metrics[0]["val/acc"] <= 1.0


@pytest.mark.slow
def test_swin_gets_the_configured_image_size():
    cfg = tiny_cfg(64)
    model = load_plugins().build_model("swin_tiny_patch4_window7_224", 10, cfg)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet10t.c3_in1k", "tv/resnet18"])
def test_pretrained_without_network_fails_fast_with_a_clear_error(train_run, name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    run = train_run({"MODEL.NAME": name, "MODEL.PRETRAINED": True, "INPUT.SIZE": 16})
    assert time.monotonic() - started < 30
    assert run.code == 1
    assert run.result["status"] == "failed"
    assert run.result["error"].startswith(f"could not load pretrained weights for {name}: ")
