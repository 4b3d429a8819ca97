"""Image-file datasets (imagefolder, csv) and TensorBoard, on real digit images written as PNG files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.training.data import build_data


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory) -> Path:
    """40 real digits (classes 0-3) as 8x8 grey PNGs: ROOT/{train,val}/<class>/<n>.png."""
    from PIL import Image
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits_png")
    digits = load_digits()
    counts: dict[tuple[str, int], int] = {}
    for image, label in zip(digits.images, digits.target):
        if label > 3:
            continue
        split = "train" if counts.get(("train", label), 0) < 8 else "val"
        if counts.get((split, label), 0) >= (8 if split == "train" else 2):
            continue
        counts[(split, label)] = counts.get((split, label), 0) + 1
        folder = root / split / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype("uint8"), mode="L").save(folder / f"{counts[(split, label)]}.png")
    return root


def file_cfg(**datasets):
    cfg = get_cfg_defaults()
    cfg.INPUT.SIZE, cfg.DATALOADER.BATCH_SIZE = 16, 8
    cfg.INPUT.RANDOM_RESIZED_CROP, cfg.INPUT.HFLIP_PROB, cfg.INPUT.ROTATION_DEG = True, 0.5, 10.0
    for key, value in datasets.items():
        setattr(cfg.DATASETS, key, value)
    return cfg


def test_imagefolder_gives_rgb_batches_of_the_configured_size(digit_pngs):
    data = build_data(file_cfg(NAME="imagefolder", ROOT=str(digit_pngs)))
    assert data.class_names == ["class0", "class1", "class2", "class3"]
    images, labels = next(iter(data.train_loader))
    assert images.shape == (8, 3, 16, 16) and set(labels.tolist()) <= {0, 1, 2, 3}
    assert len(data.train_loader.dataset) == 32 and len(data.val_loader.dataset) == 8


def test_csv_with_header_relative_paths_and_sorted_class_names(digit_pngs, tmp_path):
    rows = sorted(p.relative_to(digit_pngs) for p in digit_pngs.rglob("*.png"))
    train = [r for r in rows if r.parts[0] == "train"]
    val = [r for r in rows if r.parts[0] == "val"]
    names = {"class0": "zero", "class1": "one", "class2": "two", "class3": "three"}
    (tmp_path / "train.csv").write_text("path,label\n" + "".join(f"{r},{names[r.parts[1]]}\n" for r in train))
    (tmp_path / "val.csv").write_text("".join(f"{digit_pngs / r},{names[r.parts[1]]}\n" for r in val))
    cfg = file_cfg(NAME="csv", ROOT=str(digit_pngs), TRAIN_CSV=str(tmp_path / "train.csv"),
                   VAL_CSV=str(tmp_path / "val.csv"))
    data = build_data(cfg)
    assert data.class_names == ["one", "three", "two", "zero"]
    assert len(data.train_loader.dataset) == 32 and len(data.val_loader.dataset) == 8
    images, labels = next(iter(data.val_loader))
    assert images.shape == (8, 3, 16, 16)
    assert labels.tolist()[:2] == [3, 3]  # val rows start with class0 -> "zero"


def test_missing_data_is_a_user_error(tmp_path):
    with pytest.raises(HpsysError, match="ROOT/train and ROOT/val"):
        build_data(file_cfg(NAME="imagefolder", ROOT=str(tmp_path)))
    with pytest.raises(HpsysError, match="DATASETS.TRAIN_CSV"):
        build_data(file_cfg(NAME="csv", TRAIN_CSV=str(tmp_path / "nope.csv")))


def test_trainer_runs_on_an_imagefolder_with_tensorboard(train_run, digit_pngs):
    run = train_run({"DATASETS.NAME": "imagefolder", "DATASETS.ROOT": str(digit_pngs), "SOLVER.MAX_EPOCHS": 1,
                     "DATALOADER.BATCH_SIZE": 8, "LOG_PERIOD": 2, "TENSORBOARD.ENABLE": True})
    assert run.code == 0 and run.result["status"] == "completed"
    assert run.metrics[0]["step"] == 4
    events = list((run.out / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_digit_augmentation_keeps_shape_and_changes_pixels():
    cfg = get_cfg_defaults()
    cfg.INPUT.SIZE, cfg.DATALOADER.BATCH_SIZE = 16, 32
    plain = build_data(cfg).train_loader.dataset
    cfg.INPUT.RANDOM_RESIZED_CROP, cfg.INPUT.ROTATION_DEG, cfg.INPUT.HFLIP_PROB = True, 20.0, 0.5
    augmented = build_data(cfg).train_loader.dataset
    index = list(range(32))
    a, _ = plain.__getitems__(index)
    b, _ = augmented.__getitems__(index)
    assert a.shape == b.shape == (32, 3, 16, 16)
    assert not torch.allclose(a, b)
