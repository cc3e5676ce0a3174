"""ImageNet (ILSVRC-2012) in the standard ImageFolder layout, with the field's standard transforms.

``data_root`` holds ``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG`` (val sorted into class folders, as the
usual preparation scripts do). Training: ``RandomResizedCrop(size)`` + horizontal flip; evaluation: resize to
``size / 0.875`` (256 for 224) then centre crop; ImageNet mean/std normalization. ImageNet's licence forbids
automatic download: ``download: true`` is refused with where to get it.
"""

from __future__ import annotations

from pathlib import Path

from torchvision import datasets, transforms

from pruningbench.data import DATASETS, DataSplits
from pruningbench.errors import UserError, first_line

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = 224
EVAL_CROP_RATIO = 0.875  # 224 / 256


def imagenet_transforms(size: int) -> tuple[transforms.Compose, transforms.Compose]:
    """The standard (train, eval) transforms for crops of ``size`` pixels."""
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train = transforms.Compose(
        [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]
    )
    evaluation = transforms.Compose([
        transforms.Resize(round(size / EVAL_CROP_RATIO)), transforms.CenterCrop(size), transforms.ToTensor(), normalize
    ])
    return train, evaluation


@DATASETS.register("imagenet")
def imagenet(data_root: Path | None, download: bool = False, image_size: int | None = None) -> DataSplits:
    """ImageNet from ``data_root`` (``train/`` and ``val/`` ImageFolder trees); crops of ``image_size`` (224)."""
    if download:
        raise UserError("ImageNet cannot be downloaded automatically (licence); get ILSVRC-2012 from image-net.org, "
                        "arrange train/ and val/ as class folders and set task.data_root")
    if data_root is None:
        raise UserError("task.data_root is required for dataset 'imagenet' (a folder with train/ and val/)")
    root = Path(data_root).expanduser()
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise UserError(f"task.data_root {str(root)!r} has no {split}/ folder of class subfolders")
    size = image_size or DEFAULT_SIZE
    train_tf, eval_tf = imagenet_transforms(size)
    try:
        train = datasets.ImageFolder(str(root / "train"), transform=train_tf)
        val = datasets.ImageFolder(str(root / "val"), transform=eval_tf)
    except (FileNotFoundError, OSError) as error:
        raise UserError(f"task.data_root {str(root)!r}: {first_line(error)}") from None
    if train.classes != val.classes:
        raise UserError(f"task.data_root {str(root)!r}: train/ and val/ have different class folders")
    return DataSplits(train=train, test=val, num_classes=len(train.classes), input_shape=(3, size, size))
