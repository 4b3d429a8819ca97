"""Image transforms: batched torch ops for in-memory tensors, torchvision for files.

The digits path must stay fast and must not import torchvision (~5 s per child
process), so its augmentation runs on whole batches with ``affine_grid`` /
``grid_sample``: one random resized crop + rotation matrix per sample, a
random horizontal flip mask, then normalisation. Image files (imagefolder,
csv) use torchvision's own transforms, imported only there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from yacs.config import CfgNode

# RandomResizedCrop's aspect-ratio range, as torchvision uses it.
_LOG_RATIO = (math.log(3 / 4), math.log(4 / 3))


class BatchAugment:
    """Train-time augmentation of a batch of ``[N, C, H, W]`` images in [0, 1].

    Args:
        cfg: The run config (INPUT.RANDOM_RESIZED_CROP, RRC_SCALE, HFLIP_PROB,
            ROTATION_DEG, PIXEL_MEAN/STD).
    """

    def __init__(self, cfg: CfgNode) -> None:
        self.crop = bool(cfg.INPUT.RANDOM_RESIZED_CROP)
        self.scale = tuple(float(v) for v in cfg.INPUT.RRC_SCALE)
        self.hflip = float(cfg.INPUT.HFLIP_PROB)
        self.rotation = float(cfg.INPUT.ROTATION_DEG)
        self.mean, self.std = channel_stats(cfg)

    @property
    def geometric(self) -> bool:
        """Whether any crop or rotation is configured (else the grid step is skipped)."""
        return self.crop or self.rotation > 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Augment then normalise; shapes are kept."""
        n = images.shape[0]
        if self.geometric:
            grid = F.affine_grid(self._theta(n), list(images.shape), align_corners=False)
            images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.hflip > 0:
            flip = (torch.rand(n) < self.hflip).view(n, 1, 1, 1)
            images = torch.where(flip, images.flip(-1), images)
        return (images - self.mean) / self.std

    def _theta(self, n: int) -> torch.Tensor:
        """Per-sample affine maps from output to input coordinates (crop after rotation)."""
        width = torch.ones(n)
        height = torch.ones(n)
        if self.crop:
            area = torch.empty(n).uniform_(*self.scale)
            ratio = torch.exp(torch.empty(n).uniform_(*_LOG_RATIO))
            width = torch.sqrt(area * ratio).clamp(max=1.0)
            height = torch.sqrt(area / ratio).clamp(max=1.0)
        angle = torch.empty(n).uniform_(-self.rotation, self.rotation) * (math.pi / 180)
        shift_x = (torch.rand(n) * 2 - 1) * (1 - width)
        shift_y = (torch.rand(n) * 2 - 1) * (1 - height)
        cos, sin = torch.cos(angle), torch.sin(angle)
        row0 = torch.stack([width * cos, -width * sin, shift_x], dim=1)
        row1 = torch.stack([height * sin, height * cos, shift_y], dim=1)
        return torch.stack([row0, row1], dim=1)


def channel_stats(cfg: CfgNode) -> tuple[torch.Tensor, torch.Tensor]:
    """INPUT.PIXEL_MEAN / PIXEL_STD as broadcastable ``[1, 3, 1, 1]`` tensors."""
    mean = torch.tensor([float(v) for v in cfg.INPUT.PIXEL_MEAN]).view(1, -1, 1, 1)
    std = torch.tensor([float(v) for v in cfg.INPUT.PIXEL_STD]).view(1, -1, 1, 1)
    return mean, std


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``[N, C, H, W]`` to ``size`` x ``size`` (bilinear, antialiased when shrinking)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrink = size < images.shape[-1]
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def file_transforms(cfg: CfgNode, train: bool) -> Any:
    """The torchvision pipeline for image files: augment (train only), tensor, normalise."""
    from torchvision import transforms as T

    size = int(cfg.INPUT.SIZE)
    steps: list[Any] = [T.Lambda(_to_rgb)]
    if train and cfg.INPUT.RANDOM_RESIZED_CROP:
        steps.append(T.RandomResizedCrop(size, scale=tuple(cfg.INPUT.RRC_SCALE)))
    else:
        steps.append(T.Resize((size, size)))
    if train and cfg.INPUT.HFLIP_PROB > 0:
        steps.append(T.RandomHorizontalFlip(float(cfg.INPUT.HFLIP_PROB)))
    if train and cfg.INPUT.ROTATION_DEG > 0:
        steps.append(T.RandomRotation(float(cfg.INPUT.ROTATION_DEG)))
    steps += [T.ToTensor(), T.Normalize(list(cfg.INPUT.PIXEL_MEAN), list(cfg.INPUT.PIXEL_STD))]
    return T.Compose(steps)


def _to_rgb(image: Any) -> Any:
    """Grey or RGBA files become 3-channel (a module-level function pickles into workers)."""
    return image.convert("RGB")
