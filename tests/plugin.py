"""The tests' own registered components, loaded through ``$PRUNINGBENCH_PLUGINS`` as a user's plug-in would be (so
worker, run and torchrun processes have them too): a tiny slice of the embedded dataset, and a model without
BatchNorm."""

from dataclasses import replace
from pathlib import Path

from torch import nn
from torch.utils.data import Subset

from pruningbench.data import DATASETS, DataSplits
from pruningbench.data.embedded import fashion_mnist_embedded
from pruningbench.models import MODELS

TINY_DATASET = "fashion_mnist_tiny"


@DATASETS.register(TINY_DATASET)
def fashion_mnist_tiny(
    data_root: Path | None = None, download: bool = False, image_size: int | None = None
) -> DataSplits:
    """The first 512 train / 256 test images of the embedded set: real data, seconds per epoch."""
    full = fashion_mnist_embedded()
    raw = full.resident
    assert raw is not None
    resident = replace(
        raw, train_images=raw.train_images[:512], train_labels=raw.train_labels[:512],
        test_images=raw.test_images[:256], test_labels=raw.test_labels[:256],
    )
    return DataSplits(
        Subset(full.train, range(512)), Subset(full.test, range(256)), full.num_classes, full.input_shape, resident
    )


@MODELS.register("tiny_convnet_nobn")
def tiny_convnet_nobn(num_classes: int, in_channels: int) -> nn.Module:
    """Two convolutions and a classifier without BatchNorm: data-parallel training equals one process exactly."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
    )
