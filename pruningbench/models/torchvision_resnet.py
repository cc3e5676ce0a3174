"""ImageNet ResNets from torchvision (ResNet-18: 11.69 M, ResNet-50: 25.56 M parameters at 1000 classes).

``pretrained`` loads torchvision's ``IMAGENET1K_V1`` weights (the ones behind the reference's base accuracies,
69.758 / 76.128 top-1), which torchvision downloads on first use, or, given a path, that file (a torchvision ImageNet
state_dict, e.g. ``resnet18-f37072fd.pth``); with another class count the final linear layer is replaced, freshly
initialized.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models

from pruningbench.errors import UserError
from pruningbench.models import MODELS

IMAGENET_CLASSES = 1000


def _resnet(builder, weights, num_classes: int, in_channels: int, pretrained: bool | Path) -> models.ResNet:
    if pretrained and in_channels != 3:
        raise UserError(f"pretrained ImageNet weights need 3 input channels, not {in_channels}")
    if isinstance(pretrained, Path):
        model = builder(weights=None, num_classes=IMAGENET_CLASSES)
        model.load_state_dict(torch.load(pretrained, map_location="cpu", weights_only=True))
    else:
        model = builder(weights=weights if pretrained else None, num_classes=IMAGENET_CLASSES if pretrained else num_classes)
    if pretrained and num_classes != IMAGENET_CLASSES:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


@MODELS.register("resnet18")
def resnet18(num_classes: int, in_channels: int = 3, pretrained: bool | Path = False) -> models.ResNet:
    """torchvision ResNet-18 (ImageNet stem: 7x7 conv, max-pool)."""
    return _resnet(models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1, num_classes, in_channels, pretrained)


@MODELS.register("resnet50")
def resnet50(num_classes: int, in_channels: int = 3, pretrained: bool | Path = False) -> models.ResNet:
    """torchvision ResNet-50 (V1 weights when pretrained)."""
    return _resnet(models.resnet50, models.ResNet50_Weights.IMAGENET1K_V1, num_classes, in_channels, pretrained)
