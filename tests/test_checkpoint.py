"""Pruned models on disk: structure + state_dict, read with ``weights_only=True``; earlier pickled files still load."""

import logging
import pickle

import pytest
import torch

from pruningbench.checkpoint import load_pruned, save_pruned
from pruningbench.config import PruneConfig
from pruningbench.errors import UserError
from pruningbench.methods.importance import create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline.prune import prune_to_speedup


@pytest.fixture
def pruned():
    model = create_model("resnet8_quick", num_classes=10, in_channels=1)
    prune_to_speedup(model, create_criterion("MagnitudeL2"), torch.randn(1, 1, 28, 28), PruneConfig(speedup=4))
    return model.eval()


def test_a_pruned_model_is_plain_tensors_and_numbers_and_loads_back_exactly(pruned, tmp_path):
    path = tmp_path / "model.pt"
    save_pruned(pruned, path, "resnet8_quick", 10, 1, 28)
    payload = torch.load(path, weights_only=True)  # nothing to unpickle but tensors, numbers, strings
    assert payload["structure"]["conv1"]["out_channels"] == pruned.conv1.out_channels < 16
    loaded = load_pruned(path)
    images = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(images), pruned(images))
    assert [p.shape for p in loaded.parameters()] == [p.shape for p in pruned.parameters()]
    assert loaded.conv1.out_channels == pruned.conv1.out_channels and not loaded.training


def test_a_file_from_the_previous_release_loads_with_a_notice(pruned, tmp_path, caplog):
    path = tmp_path / "old.pt"
    old = {"model": "resnet8_quick", "num_classes": 10, "in_channels": 1, "image_size": 28, "module": pruned}
    torch.save(old, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with caplog.at_level(logging.WARNING):
        loaded = load_pruned(path)
    assert "earlier release's pickled format" in caplog.text
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(images), pruned(images))


def test_a_file_that_is_not_a_pruned_model_is_one_line(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(UserError, match="is not a pruned model saved by pruningbench"):
        load_pruned(path)
    (tmp_path / "junk.pt").write_bytes(b"junk" * 10)
    with pytest.raises(UserError, match="cannot be read"):
        load_pruned(tmp_path / "junk.pt")
