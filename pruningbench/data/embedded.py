"""The embedded default dataset: a stratified 6k-image subset of Fashion-MNIST shipped inside the package.

Real images (Zalando's Fashion-MNIST, MIT licence, see ``LICENSE-fashion-mnist.txt``), 10 balanced classes, 5,000
train / 1,000 test, 28x28 grey-scale. Small CNNs reach roughly 85-92% on it, so pruning damage is visible. Regenerate
with ``scripts/make_embedded_subset.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from pruningbench.data import DATASETS, DataSplits, fixed_size
from pruningbench.data.resident import ResidentData

ARCHIVE = Path(__file__).with_name("fashion_mnist_subset.npz")
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST pixel statistics (of the full training set)


def _tensors(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    x = torch.from_numpy(images).float().div_(255).sub_(MEAN).div_(STD).unsqueeze(1)
    return TensorDataset(x, torch.from_numpy(labels).long())


def _raw(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


@DATASETS.register("fashion_mnist_embedded")
def fashion_mnist_embedded(
    data_root: Path | None = None, download: bool = False, image_size: int | None = None
) -> DataSplits:
    """Load the shipped subset; ``data_root`` and ``download`` are ignored (nothing to fetch)."""
    fixed_size("fashion_mnist_embedded", 28, image_size)
    with np.load(ARCHIVE) as archive:
        arrays = {name: archive[name] for name in archive.files}
    train = _tensors(arrays["train_images"], arrays["train_labels"])
    test = _tensors(arrays["test_images"], arrays["test_labels"])
    resident = ResidentData(
        *_raw(arrays["train_images"], arrays["train_labels"]), *_raw(arrays["test_images"], arrays["test_labels"]),
        mean=(MEAN,), std=(STD,),
    )
    return DataSplits(train=train, test=test, num_classes=10, input_shape=(1, 28, 28), resident=resident)
