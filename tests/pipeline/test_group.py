import torch
from torch import nn

from pruningbench.models import create_model
from pruningbench.pipeline.group import build_groups, output_layers
from pruningbench.pipeline.prune import remove_channels


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


def _grouped_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 12, 1), nn.ReLU(), nn.Conv2d(12, 12, 3, padding=1, groups=3), nn.ReLU(), nn.Conv2d(12, 5, 1)
    ).eval()


def test_a_grouped_convolution_loses_the_same_positions_in_every_group_and_computes_what_masking_would():
    model = _grouped_net()
    example = torch.randn(2, 3, 6, 6)
    graph, groups = build_groups(model, example)
    first = next(g for g in groups if g.root is model[0])  # model[0]'s outputs = the grouped conv's inputs
    assert first.units.tolist() == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]  # channel j of each of 3 groups
    removed = first.units[[1, 3]].flatten().sort().values  # positions 1 and 3 of every group
    with torch.no_grad():  # the original with those channels zeroed
        expected = model[4](model[3](model[2](model[1](model[0](example)) * _keep_mask(12, removed))))
    remove_channels(model, graph, groups, [removed if g is first else torch.tensor([], dtype=torch.long) for g in groups])
    assert model[2].in_channels == 6 and model[2].groups == 3 and model[2].weight.shape == (12, 2, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(example), expected)


def _keep_mask(channels: int, removed: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(1, channels, 1, 1)
    mask[:, removed] = 0
    return mask
