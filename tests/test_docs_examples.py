"""The documentation's examples work as written: the folder dataset plug-in and the suite that uses it."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from pruningbench.data import build_dataset
from pruningbench.errors import UserError
from pruningbench.registry import load_plugin
from pruningbench.suite import load_suite

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples"


def _folders(root: Path) -> None:
    for split in ("train", "test"):
        for index, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True)
            for image in range(3):
                Image.new("RGB", (40, 24), (100 * index, 50 * image, 10)).save(root / split / name / f"{image}.png")


def test_the_folder_dataset_plugin_reads_one_folder_per_class(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])  # suites name plug-in files relative to where they are run
    load_plugin(str(EXAMPLES / "folder_dataset.py"))
    _folders(tmp_path / "data")
    splits = build_dataset("my_folders", tmp_path / "data")
    assert splits.num_classes == 2 and splits.input_shape == (3, 32, 32)
    image, label = splits.test[3]
    assert image.shape == (3, 32, 32) and label == 1
    assert torch.allclose(image[0], torch.full((32, 32), (100 / 255 - 0.5) / 0.25), atol=1e-5)  # red 100, normalized
    with pytest.raises(UserError, match="my_folders needs task.data_root"):
        build_dataset("my_folders", tmp_path)

    configs = load_suite(str(EXAMPLES / "my_suite.yaml")).expand(
        {"task.data_root": str(tmp_path / "data"), "results_dir": str(tmp_path / "results")}
    )
    assert len(configs) == 3 * 2 and {c.task.dataset for c in configs} == {"my_folders"}
    assert all(c.plugin_origins()["dataset my_folders"].startswith("folder_dataset.py sha256:") for c in configs)
