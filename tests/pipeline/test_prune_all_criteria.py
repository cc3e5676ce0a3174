"""Every criterion prunes every model of the registry, under every scope, to the target speed-up."""

import pytest
import torch

from pruningbench.config import PruneConfig
from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA, create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline.prune import prune_to_speedup


def _calibration(shape: tuple[int, ...], classes: int, images: int = 8) -> list:
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(images, *shape, generator=generator), torch.randint(0, classes, (images,), generator=generator))]


def _prune_and_check(
    model_name: str, criterion: str, scope: str, speedup: float, shape=(3, 32, 32), attention: str = "head_dims"
) -> None:
    model = create_model(model_name, num_classes=10, in_channels=shape[0], image_size=shape[-1])
    outcome = prune_to_speedup(
        model, create_criterion(criterion), torch.randn(1, *shape),
        PruneConfig(speedup=speedup, scope=scope, attention=attention), _calibration(shape, 10),
    )
    assert speedup <= outcome.achieved_speedup <= 1.01 * speedup
    assert model(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("criterion", CRITERIA.names())
@pytest.mark.parametrize("scope", ["local", "global", "protected_global"])
def test_every_criterion_and_scope_on_the_quick_model(criterion, scope):
    _prune_and_check("resnet8_quick", criterion, scope, 4.0, shape=(1, 28, 28))


@pytest.mark.parametrize("criterion", CRITERIA.names())
@pytest.mark.parametrize("model_name", ["resnet18_cifar", "vgg19_cifar"])
def test_every_criterion_on_cifar_models_at_8x(criterion, model_name):
    _prune_and_check(model_name, criterion, "protected_global", 8.0)


@pytest.mark.slow
@pytest.mark.parametrize("criterion", CRITERIA.names())
@pytest.mark.parametrize("model_name", ["resnet18_cifar", "resnet50_cifar", "vgg19_cifar"])
@pytest.mark.parametrize("scope", ["local", "global", "protected_global"])
@pytest.mark.parametrize("speedup", [2.0, 4.0, 8.0])
def test_full_grid(criterion, model_name, scope, speedup):
    _prune_and_check(model_name, criterion, scope, speedup)


@pytest.mark.parametrize("criterion", CRITERIA.names())
def test_every_criterion_on_imagenet_resnet18_at_3x(criterion):
    _prune_and_check("resnet18", criterion, "protected_global", 3.0, shape=(3, 64, 64))


@pytest.mark.slow
@pytest.mark.parametrize("criterion", CRITERIA.names())
@pytest.mark.parametrize("model_name", ["resnet18", "resnet50"])
@pytest.mark.parametrize("speedup", [2.0, 3.0, 4.0])
def test_imagenet_resnets_grid(criterion, model_name, speedup):
    _prune_and_check(model_name, criterion, "protected_global", speedup, shape=(3, 64, 64))


VIT_NOT_APPLICABLE = {"BNScale": "needs BatchNorm", "HRank": "scores conv feature maps"}  # as the reference's board


@pytest.mark.parametrize("criterion", CRITERIA.names())
def test_every_criterion_on_vit_small_at_3x_or_a_clear_not_applicable(criterion):
    if criterion in VIT_NOT_APPLICABLE:
        with pytest.raises(UserError, match=VIT_NOT_APPLICABLE[criterion]):
            _prune_and_check("vit_small_patch16_224", criterion, "protected_global", 3.0, shape=(3, 32, 32))
    else:
        _prune_and_check("vit_small_patch16_224", criterion, "protected_global", 3.0, shape=(3, 32, 32))


@pytest.mark.parametrize("criterion", sorted(set(CRITERIA.names()) - set(VIT_NOT_APPLICABLE)))
def test_every_applicable_criterion_removes_whole_vit_heads_at_3x(criterion):
    _prune_and_check("vit_small_patch16_224", criterion, "protected_global", 3.0, attention="heads")


@pytest.mark.slow
@pytest.mark.parametrize("criterion", sorted(set(CRITERIA.names()) - set(VIT_NOT_APPLICABLE)))
@pytest.mark.parametrize("speedup", [2.0, 3.0, 4.0])
@pytest.mark.parametrize("attention", ["head_dims", "heads"])
def test_vit_grid(criterion, speedup, attention):
    _prune_and_check("vit_small_patch16_224", criterion, "protected_global", speedup, shape=(3, 64, 64),
                     attention=attention)


# forward-only criteria; the loss-based ones need box targets: tests/pipeline/test_detection.py
YOLO_CRITERIA = ["Random", "MagnitudeL1", "MagnitudeL2", "LAMP", "FPGM", "BNScale", "HRank", "ThiNet", "CP"]


@pytest.mark.slow
@pytest.mark.parametrize("criterion", YOLO_CRITERIA)
@pytest.mark.parametrize("speedup", [2.0, 3.0, 4.0])
def test_yolov8m_grid(criterion, speedup):
    model = create_model("yolov8m", num_classes=80)
    outcome = prune_to_speedup(
        model, create_criterion(criterion), torch.randn(1, 3, 64, 64), PruneConfig(speedup=speedup),
        _calibration((3, 64, 64), 80, images=2),
    )
    assert speedup <= outcome.achieved_speedup <= 1.01 * speedup
    assert model.eval()(torch.randn(1, 3, 64, 64))[0].shape == (1, 84, 84)
