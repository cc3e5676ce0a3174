"""Device-resident data for datasets that fit in memory (CIFAR-100, the embedded set): no DataLoader, no PIL.

The images stay on the run's device as uint8; each batch is gathered, randomly cropped from the zero-padded image and
flipped per image, converted and normalized there, in a few tensor operations. The draws come from one generator
on the device that the training loop seeds with ``(seed, epoch)`` (as it seeds a DataLoader's), so an epoch is a
function of the seed alone and a resumed run continues exactly. The crops and flips follow the distribution of the
torchvision transforms they replace (``RandomCrop(size, padding)`` and ``RandomHorizontalFlip()``): offsets uniform
over the ``2 * padding + 1`` positions of each axis, a flip with probability 1/2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ResidentData", "ResidentLoader"]


@dataclass(frozen=True)
class ResidentData:
    """A dataset's raw images (uint8, N x C x H x W) and labels, and how the training split is augmented."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 0  # RandomCrop(size, padding=crop_padding) on the training split; 0: none
    flip: bool = False  # RandomHorizontalFlip() on the training split


def shard_of(batch: torch.Tensor, shard: tuple[int, int]) -> torch.Tensor | None:
    """Rank ``shard[0]``'s even slice of one global batch (of indices or images), or None for a last batch too small
    to give every one of the ``shard[1]`` processes a sample (data-parallel ranks must all take the same steps)."""
    rank, world = shard
    if len(batch) < world:
        return None
    return batch[rank * len(batch) // world : (rank + 1) * len(batch) // world]


def batch_count(count: int, batch_size: int, drop_last: bool, world: int = 1) -> int:
    """Batches of ``batch_size`` in ``count`` samples; a last batch too small to give every one of ``world``
    data-parallel processes a sample is left out (see :func:`shard_of`)."""
    batches = count // batch_size if drop_last else -(-count // batch_size)
    if batches * batch_size > count and count % batch_size < world:
        batches -= 1
    return batches


class ResidentLoader:
    """Batches of one split on ``device``: shuffled and augmented for training, in order and plain for testing."""

    def __init__(
        self,
        data: ResidentData,
        train: bool,
        batch_size: int,
        device: torch.device,
        drop_last: bool = False,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        """``shard`` = (rank, world size) of data-parallel training: every process draws the same global batches of
        ``batch_size`` and augments them the same way, then keeps its own slice, so ``world`` processes together see
        exactly what one process would."""
        images, labels = (data.train_images, data.train_labels) if train else (data.test_images, data.test_labels)
        self.images, self.labels = images.to(device), labels.to(device)
        self.train, self.batch_size, self.drop_last = train, batch_size, drop_last
        self.padding = data.crop_padding if train else 0
        self.flip = data.flip and train
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(data.mean, device=device).view(shape) * 255
        self.scale = 1.0 / (torch.tensor(data.std, device=device).view(shape) * 255)
        self.generator = torch.Generator(device=device).manual_seed(0)  # the training loop seeds it per epoch
        self.shard, self.world = shard, shard[1]

    def __len__(self) -> int:
        return batch_count(len(self.labels), self.batch_size, self.drop_last, self.world)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        count = len(self.labels)
        device = self.labels.device
        order = (
            torch.randperm(count, generator=self.generator, device=device)
            if self.train
            else torch.arange(count, device=device)
        )
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            images, labels = self.augment(self.images[index]), self.labels[index]
            if self.world > 1:
                images, labels = shard_of(images, self.shard), shard_of(labels, self.shard)
            yield images, labels  # type: ignore[misc]

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """Crop, flip and normalize a uint8 batch (float32 out)."""
        if self.padding:
            images = self._crop(images)
        if self.flip:
            flipped = torch.rand(len(images), generator=self.generator, device=images.device) < 0.5
            images = torch.where(flipped.view(-1, 1, 1, 1), images.flip(-1), images)
        return (images.float() - self.mean) * self.scale

    def _crop(self, images: torch.Tensor) -> torch.Tensor:
        count, _, height, width = images.shape
        padded = F.pad(images, (self.padding,) * 4)  # zeros, as RandomCrop's default fill
        positions = 2 * self.padding + 1
        top = torch.randint(positions, (count,), generator=self.generator, device=images.device)
        left = torch.randint(positions, (count,), generator=self.generator, device=images.device)
        rows = (top.view(-1, 1) + torch.arange(height, device=images.device)).view(count, 1, height, 1)
        cols = (left.view(-1, 1) + torch.arange(width, device=images.device)).view(count, 1, 1, width)
        samples = torch.arange(count, device=images.device).view(count, 1, 1, 1)
        channels = torch.arange(images.shape[1], device=images.device).view(1, -1, 1, 1)
        return padded[samples, channels, rows, cols]
