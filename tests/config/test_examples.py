"""The shipped experiment files load, and say what their comments promise."""

from __future__ import annotations

from pathlib import Path

from hyperparameter_system.config.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[2]
SIX = ["optimizer", "scheduler", "loss_function", "image_size", "batch_size", "early_stopping"]


def test_default_experiment_is_a_small_cpu_matrix_over_all_six_categories():
    spec = load_experiment(str(ROOT / "experiment_config.yaml"))
    assert spec.name == "digits_default" and (spec.metric, spec.goal) == ("val/acc", "maximize")
    overrides = dict(spec.overrides)
    assert overrides["DATASETS.NAME"] == "digits" and overrides["SOLVER.MAX_EPOCHS"] <= 3
    assert [c.name for c in spec.categories] == SIX
    assert all(2 <= len(c.options) <= 3 and c.enabled for c in spec.categories)
    assert [m.name for m in spec.models if m.enabled] == ["small_cnn", "test_resnet.r160_in1k"]
    assert (spec.execution.parallel, spec.execution.devices, spec.wandb.mode) == (2, "auto", "auto")
    assert spec.output_dir == str(ROOT / "output")


def test_gpu_example_has_four_pretrained_timm_models_and_large_images():
    spec = load_experiment(str(ROOT / "examples" / "cv_classification.yaml"))
    assert [m.name for m in spec.models] == [
        "resnet50.tv2_in1k", "efficientnet_b3.ra2_in1k", "efficientnet_b4.ra2_in1k",
        "swin_base_patch4_window12_384.ms_in1k"]
    assert [c.name for c in spec.categories] == SIX
    overrides = dict(spec.overrides)
    assert overrides["DATASETS.NAME"] == "imagefolder" and overrides["MODEL.PRETRAINED"] is True
    sizes = next(c for c in spec.categories if c.name == "image_size").options
    sizes = [s if isinstance(s, int) else s["size"] for s in sizes]
    assert min(sizes) == 224 and max(sizes) == 1280
    # "4 models x (1 baseline + options) = 84 cells", as its header says.
    assert len(spec.models) * (1 + sum(len(c.options) for c in spec.categories)) == 84
    assert spec.output_dir == str(ROOT / "examples" / "output")



def test_shipped_files_plan_with_the_built_in_plugins():
    """Every option of both files is valid for the built-in category plugins."""
    from datetime import datetime

    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for

    counts = {}
    for name in ("experiment_config.yaml", "examples/cv_classification.yaml"):
        spec = load_experiment(str(ROOT / name))
        counts[name] = len(plan_matrix(spec, load_plugins_for(spec), now=datetime(2026, 11, 1)))
    # digits: 2 enabled models x (baseline + 16 options); GPU example: 4 x (1 + 20).
    assert counts == {"experiment_config.yaml": 34, "examples/cv_classification.yaml": 84}


def test_own_project_examples_plan_every_built_in_category_against_their_fixture_projects():
    """Both examples drive the six categories through key_map into their project's own schema."""
    from datetime import datetime

    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for

    for name, model, count in (("own_yacs_project.yaml", "reid_tiny", 7), ("own_yaml_project.yaml", "b3", 7)):
        spec = load_experiment(str(ROOT / "examples" / name))
        cells = plan_matrix(spec, load_plugins_for(spec), now=datetime(2026, 11, 1))
        assert len(cells) == count and {c.model for c in cells} == {model}
        assert {c.category for c in cells} == {"baseline", *SIX}
        assert spec.models[0].cwd.startswith(str(ROOT / "tests" / "fixtures"))
