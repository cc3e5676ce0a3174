"""Detection data in ultralytics' layout, on a tiny generated set (no download, no real COCO)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pruningbench.data import build_dataset
from pruningbench.errors import UserError

pytest.importorskip("ultralytics")


def make_detection_set(root: Path, train: int = 8, val: int = 4, size: int = 64) -> Path:
    """Images with one red and one green box each, YOLO-format labels, and ``data.yaml``; returns the YAML."""
    generator = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            pixels = np.full((size, size, 3), 30, np.uint8)
            lines = []
            for label, colour in enumerate(((220, 40, 40), (40, 220, 40))):
                w, h = generator.integers(size // 5, size // 2, 2)
                x0, y0 = generator.integers(0, size - w), generator.integers(0, size - h)
                pixels[y0 : y0 + h, x0 : x0 + w] = colour
                lines.append(f"{label} {(x0 + w / 2) / size:.4f} {(y0 + h / 2) / size:.4f} {w / size:.4f} {h / size:.4f}")
            Image.fromarray(pixels).save(root / "images" / split / f"{index}.jpg")
            (root / "labels" / split / f"{index}.txt").write_text("\n".join(lines) + "\n")
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: green\n")
    return yaml


def test_dataset_yaml_or_its_folder(tmp_path):
    yaml = make_detection_set(tmp_path / "tiny")
    for root in (yaml, yaml.parent):
        data = build_dataset("coco", root, image_size=64)
        assert data.num_classes == 2 and data.input_shape == (3, 64, 64) and len(data.train_images) == 8


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="neither a dataset YAML nor a folder"):
        build_dataset("coco", tmp_path)
    with pytest.raises(UserError, match="task.data_root is required"):
        build_dataset("coco", None)
