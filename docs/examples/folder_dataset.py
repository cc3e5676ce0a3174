"""A pruningbench plug-in that adds your own image classification data: one folder per class, under ``train/`` and
``test/`` of ``task.data_root`` (torchvision's ImageFolder layout). Load it with ``--plugin``, ``plugins:`` in a config
or suite, or ship it in a package with a ``pruningbench.datasets`` entry point."""

from pathlib import Path

from torchvision import datasets, transforms

import pruningbench as pb
from pruningbench.errors import UserError

SIZE = 32  # images are resized to SIZE x SIZE; a config's task.image_size asks for another size
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pb.register_dataset("my_folders")
def my_folders(data_root: Path | None, download: bool, image_size: int | None) -> pb.DataSplits:
    if data_root is None or not (Path(data_root) / "train").is_dir() or not (Path(data_root) / "test").is_dir():
        raise UserError(f"my_folders needs task.data_root with train/ and test/ folders (got {data_root})")
    size = image_size or SIZE
    evaluate = [transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    augment = [transforms.RandomHorizontalFlip(), *evaluate]
    train = datasets.ImageFolder(Path(data_root) / "train", transforms.Compose(augment))
    test = datasets.ImageFolder(Path(data_root) / "test", transforms.Compose(evaluate))
    if train.classes != test.classes:
        raise UserError(f"my_folders: train/ and test/ have different classes ({train.classes} vs {test.classes})")
    return pb.DataSplits(train, test, num_classes=len(train.classes), input_shape=(3, size, size))
