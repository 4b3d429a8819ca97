"""Datasets and loaders: digits (in memory), imagefolder and csv (image files).

``digits`` is scikit-learn's bundled 8x8 digits (1,797 real images, no
download): split once with a seeded stratified split, upscaled to INPUT.SIZE
with torch, replicated to 3 channels and kept as tensors, so a batch is an
index into memory plus a batched augmentation. Files go through torchvision
(imported only on that path); an ImageFolder tree is listed once and its index
reused by later cells (``folder_index``).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from hyperparameter_system.config.values import DATASET_NAMES
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.training.folder_index import folder_index
from hyperparameter_system.training.seeding import loader_seed_kwargs, make_generator
from hyperparameter_system.training.transforms import BatchAugment, channel_stats, file_transforms, resize_batch

if TYPE_CHECKING:
    from yacs.config import CfgNode


@dataclass
class DataBundle:
    """What the trainer needs from the data side.

    Attributes:
        train_loader: Shuffled, seeded, augmented batches ``(images, labels)``.
        val_loader: Deterministic evaluation batches.
        num_classes: Class count (the model's output size).
        class_names: Class names in label order.
    """

    train_loader: DataLoader
    val_loader: DataLoader
    num_classes: int
    class_names: list[str]


class TensorImages(Dataset):
    """Images already in memory; fetched a batch at a time through ``__getitems__``.

    Args:
        images: ``[N, 3, S, S]`` floats in [0, 1] (train) or normalised (eval).
        labels: ``[N]`` int64 labels.
        augment: Batch transform applied on fetch (train), or None.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: BatchAugment | None) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.__getitems__([index])
        return images[0], labels[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        images = self.images[index]
        if self.augment is not None:
            images = self.augment(images)
        return images, self.labels[index]


def _batch_passthrough(batch: Any) -> Any:
    """``__getitems__`` already returns a batch; the loader must not collate it again."""
    return batch


def build_data(cfg: CfgNode) -> DataBundle:
    """Build loaders for ``cfg.DATASETS.NAME``.

    Raises:
        HpsysError: Unknown dataset name or missing files.
    """
    name = str(cfg.DATASETS.NAME)
    if name == "digits":
        train, val, classes = _digits(cfg)
        collate = _batch_passthrough
    elif name in ("imagefolder", "csv"):
        train, val, classes = _image_files(cfg, name)
        collate = None
    else:
        raise HpsysError(f"DATASETS.NAME: unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    train = _limit(train, int(cfg.DATASETS.MAX_TRAIN_SAMPLES), int(cfg.SEED))
    return DataBundle(
        train_loader=_loader(cfg, train, shuffle=True, collate=collate),
        val_loader=_loader(cfg, val, shuffle=False, collate=collate),
        num_classes=len(classes),
        class_names=classes,
    )


def _loader(cfg: CfgNode, dataset: Dataset, *, shuffle: bool, collate: Any) -> DataLoader:
    batch_size = int(cfg.DATALOADER.BATCH_SIZE)
    workers = int(cfg.DATALOADER.NUM_WORKERS)
    # A last batch of one sample breaks BatchNorm in training mode.
    drop_last = shuffle and len(dataset) % batch_size == 1  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=workers,
        pin_memory=bool(cfg.DATALOADER.PIN_MEMORY) and torch.cuda.is_available(),
        collate_fn=collate,
        persistent_workers=workers > 0,
        **loader_seed_kwargs(int(cfg.SEED)),
    )


def _limit(dataset: Dataset, limit: int, seed: int) -> Dataset:
    size = len(dataset)  # type: ignore[arg-type]
    if limit <= 0 or limit >= size:
        return dataset
    if isinstance(dataset, TensorImages):  # already a seeded stratified shuffle
        return TensorImages(dataset.images[:limit], dataset.labels[:limit], dataset.augment)
    keep = torch.randperm(size, generator=make_generator(seed))[:limit].tolist()
    return Subset(dataset, sorted(keep))


def _digits(cfg: CfgNode) -> tuple[TensorImages, TensorImages, list[str]]:
    """The seeded stratified split of digits, upscaled once to INPUT.SIZE."""
    from sklearn.model_selection import train_test_split

    pixels, targets, names = digits_arrays()
    images = torch.from_numpy(pixels).float().div_(16.0).unsqueeze(1)
    labels = torch.tensor(targets, dtype=torch.long)  # a copy: the cached arrays stay as read
    train_idx, val_idx = train_test_split(  # VAL_FRACTION's range is checked with the config (validate.py)
        torch.arange(len(labels)).numpy(), test_size=float(cfg.DATASETS.VAL_FRACTION), stratify=labels.numpy(),
        random_state=int(cfg.SEED),
    )
    images = resize_batch(images, int(cfg.INPUT.SIZE)).clamp_(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()
    mean, std = channel_stats(cfg)
    train_idx_t, val_idx_t = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    train = TensorImages(images[train_idx_t], labels[train_idx_t], BatchAugment(cfg))
    val = TensorImages((images[val_idx_t] - mean) / std, labels[val_idx_t], None)
    return train, val, list(names)


@functools.lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The bundled digits as read from disk: ``[N, 8, 8]`` pixels, ``[N]`` labels, class names.

    Read once per process with numpy only (no torch op, so no thread pool starts): the
    fork server reads them before forking, and every warm child shares the pages. Callers
    copy before changing anything.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target, [str(d) for d in digits.target_names]


def _image_files(cfg: CfgNode, kind: str) -> tuple[Dataset, Dataset, list[str]]:
    if kind == "imagefolder":
        root = Path(cfg.DATASETS.ROOT)
        for split in ("train", "val"):
            if not (root / split).is_dir():
                raise HpsysError(f"DATASETS.ROOT: {root / split} is not a folder (need ROOT/train and ROOT/val)")
        train_index, val_index = folder_index(root / "train"), folder_index(root / "val")
        if val_index.classes != train_index.classes:
            raise HpsysError(f"DATASETS.ROOT: {root}: train and val class folders differ")
        train = FolderImages(train_index.samples, file_transforms(cfg, train=True))
        val = FolderImages(val_index.samples, file_transforms(cfg, train=False))
        return train, val, list(train_index.classes)
    train_rows = _read_csv(cfg, "TRAIN_CSV")
    val_rows = _read_csv(cfg, "VAL_CSV")
    classes = sorted({label for _, label in train_rows + val_rows})
    index = {name: i for i, name in enumerate(classes)}
    train = CsvImages(train_rows, index, file_transforms(cfg, train=True))
    val = CsvImages(val_rows, index, file_transforms(cfg, train=False))
    return train, val, classes


class FolderImages(Dataset):
    """An ImageFolder tree's ``(path, label)`` samples, each loaded as ``ImageFolder`` loads it."""

    def __init__(self, samples: list[tuple[str, int]], transform: Any) -> None:
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from torchvision.datasets.folder import default_loader

        path, label = self.samples[i]
        return self.transform(default_loader(path)), label


class CsvImages(Dataset):
    """``path,label`` rows read with PIL; labels are class names mapped by sorted order."""

    def __init__(self, rows: list[tuple[Path, str]], index: dict[str, int], transform: Any) -> None:
        self.rows, self.index, self.transform = rows, index, transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.rows[i]
        with Image.open(path) as image:
            return self.transform(image), self.index[label]


def _read_csv(cfg: CfgNode, key: str) -> list[tuple[Path, str]]:
    """Rows of a ``path,label`` file; a header row is recognised and skipped.

    Relative paths are taken from DATASETS.ROOT, else from the CSV's folder.
    """
    path = Path(getattr(cfg.DATASETS, key))
    if not str(getattr(cfg.DATASETS, key)) or not path.is_file():
        raise HpsysError(f"DATASETS.{key}: {str(path)!r} is not a file")
    base = Path(cfg.DATASETS.ROOT) if cfg.DATASETS.ROOT else path.parent
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle) if r and any(cell.strip() for cell in r)]
    header = bool(rows) and rows[0][0].strip().lower() in ("path", "file", "filename", "image", "image_path")
    out: list[tuple[Path, str]] = []
    for number, row in enumerate(rows[1:] if header else rows, start=2 if header else 1):
        if len(row) < 2:
            raise HpsysError(f"{path}:{number}: DATASETS.{key}: expected 'path,label', got {row!r}")
        file = Path(row[0].strip())
        out.append((file if file.is_absolute() else base / file, row[1].strip()))
    if not out:
        raise HpsysError(f"{path}: DATASETS.{key}: no rows")
    return out
