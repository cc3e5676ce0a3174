"""CIFAR-100 through torchvision, with the field's standard augmentation and normalization."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torchvision import datasets, transforms

from pruningbench.data import DATASETS, DataSplits, fixed_size
from pruningbench.data.resident import ResidentData
from pruningbench.errors import UserError

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class _CIFAR100(datasets.CIFAR100):
    """torchvision's CIFAR-100 that checks file presence, not checksums, unless it downloads.

    The checksum check would reject any file but the official archive, which makes offline tests on small files in
    the same format impossible; checksums are still verified on download.
    """

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as meta:
            self.classes = pickle.load(meta, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}


@DATASETS.register("cifar100")
def cifar100(data_root: Path | None, download: bool = False, image_size: int | None = None) -> DataSplits:
    """CIFAR-100 from ``data_root`` (the folder holding ``cifar-100-python/``); downloads only if asked."""
    fixed_size("cifar100", 32, image_size)
    if data_root is None:
        raise UserError("task.data_root is required for dataset 'cifar100'")
    root = Path(data_root)
    if not download and not (root / _CIFAR100.base_folder).is_dir():
        raise UserError(
            f"task.data_root {str(root)!r} has no {_CIFAR100.base_folder}/ folder; "
            "point it at your CIFAR-100 copy or set task.download: true"
        )
    normalize = transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD)
    train_tf = transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]
    )
    test_tf = transforms.Compose([transforms.ToTensor(), normalize])
    try:
        train = _CIFAR100(str(root), train=True, transform=train_tf, download=download)
        test = _CIFAR100(str(root), train=False, transform=test_tf, download=download)
    except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as error:
        raise UserError(f"task.data_root {str(root)!r}: CIFAR-100 files unreadable ({error})") from None
    resident = ResidentData(
        torch.from_numpy(train.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(train.targets),
        torch.from_numpy(test.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(test.targets),
        mean=CIFAR100_MEAN, std=CIFAR100_STD, crop_padding=4, flip=True,  # train_tf's augmentation, on the device
    )
    return DataSplits(train=train, test=test, num_classes=100, input_shape=(3, 32, 32), resident=resident)
