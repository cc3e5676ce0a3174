import torch
from torch import nn

from pruningbench.models import create_model
from pruningbench.pipeline.group import build_groups, output_layers


def test_classifier_is_an_output_layer_and_never_a_group_root():
    model = create_model("resnet8_quick", num_classes=10, in_channels=1)
    example = torch.randn(1, 1, 28, 28)
    assert output_layers(model, example) == [model.classifier]
    _, groups = build_groups(model, example)
    assert all(group.root is not model.classifier for group in groups)


def test_residual_channels_form_one_group():
    """The stem and the first block's output share channels through the identity shortcut: one group."""
    model = create_model("resnet8_quick", num_classes=10, in_channels=1)
    _, groups = build_groups(model, torch.randn(1, 1, 28, 28))
    stem = next(g for g in groups if g.root is model.conv1)
    members = {item.dep.target.module for item in stem.group.items}
    block = model.layers[0][0]
    assert block.conv2 in members and block.bn2 in members and stem.size == 16
    assert all(g.root is not block.conv2 for g in groups)  # not a second group


class _PooledOutput(nn.Module):
    """Its output is a new tensor made after the conv's output was freed: CPython tends to reuse the freed address."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        pooled = self.conv(x).mean((2, 3))
        return (pooled * 1.0,)


def test_a_layer_whose_output_was_freed_is_not_taken_for_an_output_layer():
    model = _PooledOutput()
    for _ in range(5):
        assert output_layers(model, torch.zeros(1, 3, 8, 8)) == []


def test_yolov8m_groups_are_the_same_on_every_build():
    model = create_model("yolov8m", num_classes=2)
    example = torch.zeros(1, 3, 64, 64)
    builds = [[(g.name, g.size) for g in build_groups(model, example)[1]] for _ in range(3)]
    assert builds[0] == builds[1] == builds[2] and ("model.22.cv3.0.1.conv", 192) in builds[0]
