"""Object detection data in ultralytics' layout (COCO by default): a dataset YAML naming image folders and labels.

``data_root`` is the dataset YAML, or a folder holding ``data.yaml`` or ``coco.yaml`` (the layout of ultralytics'
``coco.yaml``: ``images/train2017``, ``labels/train2017`` with one ``class cx cy w h`` line per box, normalized).
``download: true`` uses ultralytics' own ``coco.yaml``, which downloads COCO 2017 (about 20 GB) on first use.
Training, validation (mAP50-95) and the detection loss are ultralytics'; see ``pipeline/detection.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pruningbench.data import DATASETS
from pruningbench.errors import UserError, first_line

DEFAULT_SIZE = 640
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class DetectionData:
    """A detection dataset: its YAML for ultralytics, and the facts models and calibration are built from."""

    yaml: str  # path of the dataset YAML (or the name of one ultralytics ships)
    num_classes: int
    input_shape: tuple[int, int, int]
    train_images: list[Path]


@DATASETS.register("coco")
def coco(data_root: Path | None, download: bool = False, image_size: int | None = None) -> DetectionData:
    """COCO (or any ultralytics-layout detection set) from ``data_root``; images resized to ``image_size`` (640)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.data.utils import check_det_dataset

    yaml = "coco.yaml" if download else str(_find_yaml(data_root))
    try:
        info = check_det_dataset(yaml, autodownload=download)
    except (FileNotFoundError, SyntaxError, KeyError, ValueError) as error:
        raise UserError(f"task.data_root: {first_line(error)}") from None
    train_images = _images(info["train"])
    if not train_images:
        raise UserError(f"task.data_root: no training images under {info['train']}")
    size = image_size or DEFAULT_SIZE
    return DetectionData(yaml=yaml, num_classes=int(info["nc"]), input_shape=(3, size, size), train_images=train_images)


def _find_yaml(data_root: Path | None) -> Path:
    if data_root is None:
        raise UserError("task.data_root is required for dataset 'coco' (a dataset YAML or its folder)")
    root = Path(data_root).expanduser()
    if root.is_file():
        return root
    for name in ("data.yaml", "coco.yaml"):
        if (root / name).is_file():
            return root / name
    raise UserError(f"task.data_root {str(root)!r} is neither a dataset YAML nor a folder with data.yaml or coco.yaml")


def _images(entry: str | list[str]) -> list[Path]:
    """Image files of a split entry: folders (searched recursively) or text files listing images."""
    images: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        path = Path(item)
        if path.is_dir():
            images += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.suffix == ".txt" and path.is_file():
            images += [(path.parent / line.strip()).resolve() for line in path.read_text().splitlines() if line.strip()]
    return images
