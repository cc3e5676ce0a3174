"""Per-sample squared gradients against their definition: one backward pass per sample."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruningbench.methods.importance import per_sample
from pruningbench.methods.importance.per_sample import layer_hooks_apply, per_sample_squared_grads


class _Net(nn.Module):
    """Conv (with and without bias, strided, padded) + BatchNorm + a linear layer applied twice (tokens)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.norm = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 4, (3, 2), stride=2, padding=(1, 0), dilation=(1, 2), bias=False)
        self.mix = nn.Linear(4, 4)
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(torch.relu(self.norm(self.conv1(x))))
        tokens = x.flatten(2).transpose(1, 2)  # [n, positions, 4]
        tokens = self.mix(torch.relu(self.mix(tokens)))  # the same layer twice: its per-sample gradients add up
        return self.head(tokens.mean(1))


def _one_by_one(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    squared = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for image, label in zip(images, labels, strict=True):
        model.zero_grad()
        F.cross_entropy(model(image[None]), label[None]).backward()
        for name, p in model.named_parameters():
            squared[name] += p.grad.pow(2)
    return squared


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = _Net()
    model.norm.running_mean.uniform_(-1, 1), model.norm.running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.mark.parametrize("path", ["hooks, unfolded patches", "hooks, grouped convolution", "vmap"])
def test_per_sample_squared_gradients_equal_one_backward_per_sample(path, monkeypatch):
    model = _model()
    assert layer_hooks_apply(model)
    if path == "vmap":
        monkeypatch.setattr(per_sample, "layer_hooks_apply", lambda _model: False)
    grouped_from = 0 if path.endswith("grouped convolution") else 1 << 30
    monkeypatch.setattr(per_sample, "GROUPED_FROM_POSITIONS", grouped_from)
    monkeypatch.setattr(per_sample, "CHUNK_ELEMENTS", {"cpu": 100, "cuda": 100})  # several chunks per layer
    images, labels = torch.randn(7, 3, 8, 8), torch.randint(0, 5, (7,))
    computed = per_sample_squared_grads(model, [(images[:4], labels[:4]), (images[4:], labels[4:])])
    expected = _one_by_one(model, images, labels)
    assert computed.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(computed[name], expected[name], rtol=1e-4, atol=1e-7, msg=name)


def test_layers_without_per_sample_formula_take_the_vmap_path():
    assert not layer_hooks_apply(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 6, 6])))
    assert not layer_hooks_apply(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)))
    shared = nn.Linear(3, 3)
    twin = nn.Linear(3, 3)
    twin.weight = shared.weight
    assert not layer_hooks_apply(nn.Sequential(shared, twin))
