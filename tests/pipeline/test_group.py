import torch

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
