"""What the fork server imports while it waits follows the plan: a run of small CNNs never pays
for timm or torchvision (seconds of CPU on a machine whose cores train the cells)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from hyperparameter_system.commands.run import idle_imports
from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.hyperparameter_configs import plan_matrix
from hyperparameter_system.plugin.loading import load_plugins_for

REPO = Path(__file__).resolve().parents[2]


def _idle_imports(tmp: Path, models: list[str], dataset: str = "digits") -> tuple[str, ...]:
    config = yaml.safe_load((REPO / "experiment_config.yaml").read_text())
    config["experiment"]["overrides"]["DATASETS.NAME"] = dataset
    config["experiment"]["overrides"]["DATASETS.ROOT"] = str(tmp)
    config["experiment"]["plugin_dirs"] = [str(REPO / "models"), str(REPO / "categories")]
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    spec = load_experiment(str(path))
    registry = load_plugins_for(spec)
    return idle_imports(plan_matrix(spec, registry, models=models, now=datetime(2026, 11, 30)), registry)


def test_the_fork_server_imports_only_what_the_plans_models_and_data_need(tmp_path: Path) -> None:
    assert _idle_imports(tmp_path, ["small_cnn"]) == (), "small CNNs on digits need neither timm nor torchvision"
    assert _idle_imports(tmp_path, ["small_cnn", "test_resnet.r160_in1k"]) == ("timm",), "a timm model needs timm"
    assert _idle_imports(tmp_path, ["small_cnn"], "imagefolder") == ("torchvision",), \
        "image files are read through torchvision"
