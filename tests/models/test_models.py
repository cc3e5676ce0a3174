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


@pytest.mark.parametrize(("name", "millions"), [("resnet18", 11.69), ("resnet50", 25.56)])
def test_imagenet_parameter_counts_match_the_paper(name, millions):
    assert abs(count_params(create_model(name, num_classes=1000)) / 1e6 - millions) <= 0.005


def test_library_weights_only_where_the_library_has_them(monkeypatch):
    from torchvision import models

    from pruningbench.errors import UserError

    with pytest.raises(UserError, match="model 'resnet18_cifar' has no library weights"):
        create_model("resnet18_cifar", num_classes=10, pretrained=True)
    requested = []  # no download in tests: check which weights would be loaded, then build without them
    original = models.resnet18
    monkeypatch.setattr(models, "resnet18", lambda weights, num_classes: (requested.append(weights), original(
        weights=None, num_classes=num_classes))[1])
    model = create_model("resnet18", num_classes=10, pretrained=True)
    assert requested == [models.ResNet18_Weights.IMAGENET1K_V1] and model.fc.out_features == 10
