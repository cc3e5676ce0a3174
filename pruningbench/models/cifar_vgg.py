"""VGG-19 with BatchNorm for 32x32 inputs and a single linear classifier: 20.09 M params at 100 classes.

The boards' remaining-params columns put the unpruned VGG-19 at 20.07-20.10 M (median 20.09 M), which this layout
matches; a 512-512 MLP head would add 0.53 M.
"""

from __future__ import annotations

import torch
from torch import nn

from pruningbench.models import MODELS

VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class CifarVGG(nn.Module):
    """Conv-BN-ReLU stacks separated by max-pools, then one linear classifier on the pooled 1x1 feature map."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@MODELS.register("vgg19_cifar")
def vgg19_cifar(num_classes: int, in_channels: int = 3) -> CifarVGG:
    """VGG-19-BN for 32x32 inputs."""
    return CifarVGG(num_classes, in_channels)
