"""CIFAR-100 loading, offline, on a tiny file in the official pickle format written by the test."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from pruningbench.data import build_dataset
from pruningbench.errors import UserError


def _write_tiny_cifar100(root: Path, train: int = 6, test: int = 4) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, count in (("train", train), ("test", test)):
        batch = {
            "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            "fine_labels": list(range(count)),
            "coarse_labels": [0] * count,
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"fine_label_names": [f"class{i}" for i in range(100)], "coarse_label_names": ["c"]}
    (folder / "meta").write_bytes(pickle.dumps(meta))


def test_loads_cifar_format_offline_with_standard_transforms(tmp_path: Path):
    _write_tiny_cifar100(tmp_path)
    data = build_dataset("cifar100", tmp_path)
    assert (len(data.train), len(data.test), data.num_classes, data.input_shape) == (6, 4, 100, (3, 32, 32))
    image, label = data.test[3]
    assert image.shape == (3, 32, 32) and label == 3
    assert image.min() < 0 < image.max()  # normalized around the CIFAR-100 mean
    draws = {data.train[0][0].numpy().tobytes() for _ in range(20)}  # random crop + flip: draws differ
    assert len(draws) > 1 and data.train[0][0].shape == (3, 32, 32)
    assert data.test[3][0].numpy().tobytes() == image.numpy().tobytes()  # evaluation is deterministic


def test_corrupt_files_give_one_line(tmp_path: Path):
    _write_tiny_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="CIFAR-100 files unreadable"):
        build_dataset("cifar100", tmp_path)


def test_missing_data_root_names_the_field(tmp_path: Path):
    with pytest.raises(UserError, match="task.data_root .* has no cifar-100-python/ folder"):
        build_dataset("cifar100", tmp_path)
    with pytest.raises(UserError, match="task.data_root is required"):
        build_dataset("cifar100", None)
