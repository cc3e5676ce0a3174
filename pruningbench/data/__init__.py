"""Datasets by name: each registered builder returns train/test splits plus the shape facts the pipeline needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pruningbench.data.resident import ResidentData, batch_count, shard_of
from pruningbench.errors import UserError
from pruningbench.registry import Registry, import_submodules

__all__ = ["DATASETS", "DataSplits", "build_dataset", "make_loader", "shard_of"]


@dataclass(frozen=True)
class DataSplits:
    """The two splits of a classification dataset and the facts models are built from."""

    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, int, int]  # (channels, height, width) of one image as the model sees it
    resident: ResidentData | None = None  # the raw images, for datasets that can be kept on the device


class DatasetBuilder(Protocol):
    """``image_size`` asks for a different crop size where the dataset supports it (None: its standard size)."""

    def __call__(self, data_root: Path | None, download: bool, image_size: int | None) -> DataSplits: ...


DATASETS: Registry[DatasetBuilder] = Registry("dataset", entry_points="pruningbench.datasets")


def build_dataset(
    name: str, data_root: Path | None = None, download: bool = False, image_size: int | None = None
) -> DataSplits:
    """Build the dataset registered as ``name`` (raises a one-line error for unknown names or missing files)."""
    return DATASETS.get(name)(data_root, download, image_size)


def fixed_size(name: str, native: int, image_size: int | None) -> None:
    """Refuse an ``image_size`` other than the native one of a dataset that cannot resize."""
    if image_size is not None and image_size != native:
        raise UserError(f"task.image_size {image_size} is not supported by dataset {name!r} (its images are {native}px)")


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    workers: int = 0,
    drop_last: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> DataLoader:
    """A DataLoader whose shuffling order depends only on ``seed``. ``shard`` = (rank, world size) of data-parallel
    training: each process gets its slice of every global batch of ``batch_size``, in the order one process would
    see them (random augmentation still differs: it runs in each process's dataset transforms)."""
    generator = torch.Generator().manual_seed(seed)
    rank, world = shard
    if world == 1:
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=workers,
            drop_last=drop_last,
        )
    batches = _ShardBatches(len(dataset), batch_size, shard, shuffle, drop_last, generator)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers)
    loader.generator = generator  # the training loop seeds it per epoch, as for an unsharded loader
    return loader


class _ShardBatches(Sampler[list[int]]):
    """One rank's slice of every global batch of a (seeded) shuffled order."""

    def __init__(
        self, count: int, batch_size: int, shard: tuple[int, int], shuffle: bool, drop_last: bool,
        generator: torch.Generator,
    ) -> None:
        self.count, self.batch_size, self.shard, self.shuffle, self.generator = count, batch_size, shard, shuffle, generator
        self.batches = batch_count(count, batch_size, drop_last, shard[1])

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.count, generator=self.generator) if self.shuffle else torch.arange(self.count)
        for batch in range(self.batches):
            mine = shard_of(order[batch * self.batch_size : (batch + 1) * self.batch_size], self.shard)
            assert mine is not None
            yield mine.tolist()


import_submodules(__name__)
