"""CIFAR-style ResNets (3x3 stem, no max-pool), the variant whose sizes the PruningBench boards report.

ResNet18 has 11.22 M and ResNet50 23.70 M parameters for 100 classes. ``resnet8_quick`` is a narrow 3-stage
ResNet for the quick start: it keeps the residual couplings that make DepGraph grouping non-trivial.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pruningbench.models import MODELS


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a strided 1x1 projection with BatchNorm."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), nn.BatchNorm2d(out_planes))


class CifarResNet(nn.Module):
    """A ResNet with a 3x3 stem; one stage per entry of ``depths``/``widths``, stride 2 from the second stage on."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        depths: Sequence[int],
        widths: Sequence[int],
        num_classes: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes, stages = widths[0], []
        for i, (depth, width) in enumerate(zip(depths, widths)):
            blocks = []
            for j in range(depth):
                blocks.append(block(in_planes, width, stride=2 if i > 0 and j == 0 else 1))
                in_planes = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.pool(self.layers(out)).flatten(1)
        return self.classifier(out)


@MODELS.register("resnet18_cifar")
def resnet18_cifar(num_classes: int, in_channels: int = 3) -> CifarResNet:
    """ResNet-18 for 32x32 inputs (11.22 M parameters at 100 classes)."""
    return CifarResNet(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), num_classes, in_channels)


@MODELS.register("resnet50_cifar")
def resnet50_cifar(num_classes: int, in_channels: int = 3) -> CifarResNet:
    """ResNet-50 for 32x32 inputs (23.70 M parameters at 100 classes)."""
    return CifarResNet(Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512), num_classes, in_channels)


@MODELS.register("resnet8_quick")
def resnet8_quick(num_classes: int, in_channels: int = 3) -> CifarResNet:
    """A 3-stage, one-block-per-stage ResNet (78 k parameters) that trains in seconds on 2 CPU cores."""
    return CifarResNet(BasicBlock, (1, 1, 1), (16, 32, 64), num_classes, in_channels)
