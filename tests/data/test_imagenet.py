"""ImageNet's ImageFolder loader on a tiny generated tree (no download, no real ImageNet)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pruningbench.data import build_dataset
from pruningbench.errors import UserError

CLASSES = ("n01440764", "n01443537", "n01484850")


def make_image_folder(root: Path, train_per_class: int = 4, val_per_class: int = 2, size: int = 40) -> Path:
    """A tiny ImageNet-layout tree of random JPEGs: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``."""
    generator = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label, wnid in enumerate(CLASSES):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = generator.integers(0, 256, (size, size, 3), dtype=np.uint8) // (label + 1)
                Image.fromarray(pixels).save(folder / f"{wnid}_{index}.JPEG")
    return root


def test_image_folder_splits_with_the_standard_transforms_at_a_chosen_size(tmp_path):
    data = build_dataset("imagenet", make_image_folder(tmp_path), image_size=32)
    assert data.num_classes == 3 and data.input_shape == (3, 32, 32)
    assert len(data.train) == 12 and len(data.test) == 6
    image, label = data.test[5]
    assert image.shape == (3, 32, 32) and label == 2
    assert abs(float(image.mean())) < 3  # normalized, not raw 0..1 or 0..255 pixels


def test_missing_folders_and_download_are_clear_errors(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match="has no val/ folder"):
        build_dataset("imagenet", tmp_path)
    with pytest.raises(UserError, match="cannot be downloaded automatically"):
        build_dataset("imagenet", tmp_path, download=True)
    with pytest.raises(UserError, match="task.image_size 64 is not supported by dataset 'fashion_mnist_embedded'"):
        build_dataset("fashion_mnist_embedded", image_size=64)
