import pytest
import torch

from pruningbench.metrics import count_params
from pruningbench.models import MODELS, create_model


@pytest.mark.parametrize(
    ("name", "millions"), [("resnet18_cifar", 11.22), ("resnet50_cifar", 23.70), ("vgg19_cifar", 20.08)]
)
def test_cifar100_parameter_counts_match_the_paper(name, millions):
    assert abs(count_params(create_model(name, num_classes=100)) / 1e6 - millions) <= 0.01


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_maps_images_to_class_logits(name):
    model = create_model(name, num_classes=7, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)
