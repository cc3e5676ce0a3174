"""The library surface: ``pruningbench.prune`` on models nobody tuned for, and the top-level names."""

import pytest
import timm
import torch
import torchvision
from torch import nn

import pruningbench as pb
from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA
from pruningbench.models import MODELS

GROUPED = ["regnet_y_400mf", "resnext50_32x4d"]  # grouped convolutions (not depthwise)
TORCHVISION = ["resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "densenet121", *GROUPED]


def _forward_ok(model: nn.Module, example: torch.Tensor) -> None:
    with torch.no_grad():
        assert torch.isfinite(model.eval()(example)).all()


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_models_prune_to_2x_within_1_percent_and_still_run(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10)
    example = torch.randn(1, 3, 64, 64)
    outcome = pb.prune(model, example, "MagnitudeL2", 2.0)
    assert 2.0 <= outcome.achieved_speedup <= 2.02
    assert outcome.params_after < outcome.params_before
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels]
    assert bool(grouped) == (name in GROUPED)  # every group of a grouped convolution keeps an equal share
    assert all(m.in_channels % m.groups == 0 == m.out_channels % m.groups for m in grouped)
    _forward_ok(model, example)


def test_timm_vit_prunes_to_2x_and_a_data_driven_criterion_gets_its_calibration():
    torch.manual_seed(0)
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=10)
    example = torch.randn(1, 3, 32, 32)
    batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(2)]
    outcome = pb.prune(model, example, "Taylor", 2.0, calibration=batches)
    assert 2.0 <= outcome.achieved_speedup <= 2.02 and outcome.step_time > 0
    _forward_ok(model, example)


def test_ignored_layers_keep_their_channels_and_the_mark_is_removed():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    outcome = pb.prune(model, torch.randn(1, 3, 64, 64), "MagnitudeL1", 2.0, ignored_layers=[model.conv1])
    assert outcome.channels_after["conv1"] == outcome.channels_before["conv1"] == 64
    assert outcome.channels_after["layer4.0.conv1"] < outcome.channels_before["layer4.0.conv1"]
    assert 2.0 <= outcome.achieved_speedup <= 2.02
    assert not any("_pruningbench" in key for key in vars(model.conv1))


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="speedup"):
        pb.prune(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), speedup=0.5)
    with pytest.raises(UserError, match="unknown importance criterion 'Nope'"):
        pb.prune(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), "Nope")


def test_top_level_names_are_the_registries_and_base_classes():
    assert pb.register_criterion.__self__ is CRITERIA and pb.register_model.__self__ is MODELS
    assert issubclass(CRITERIA.get("Taylor"), pb.Criterion)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pb.nothing  # noqa: B018


def test_run_and_load_results_give_the_stored_records_and_boards_as_dataframes(tiny_config):
    config = tiny_config(**{"prune.speedup": 2})
    record = pb.run(config)
    again = pb.run(config.model_dump(mode="json"))  # a mapping of config keys: the same run, already stored
    assert again == record
    results = pb.load_results(config.results_dir)
    assert list(results.records["run_id"]) == [record.run_id]
    assert results.records.loc[0, "achieved_speedup"] == record.achieved_speedup
    (title,) = results.boards
    board = results.boards[title]
    assert "2x" in title and list(board["method"]) == ["MagnitudeL2"]
    assert board.loc[0, "prune"] == pytest.approx(record.pruned_metric) and board.loc[0, "rank"] == 1
    assert pb.load_results(config.results_dir, task="no such task").records.empty


class _FixedChannelOrder(nn.Module):
    """Reverses channels by fixed indices: an op whose channel use DepGraph cannot follow."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second, self.head = nn.Conv2d(3, 16, 3), nn.Conv2d(16, 8, 3), nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)[:, torch.arange(15, -1, -1)]
        return self.head(self.second(x).mean((2, 3)))


def test_a_model_depgraph_cannot_follow_gives_one_error_naming_the_layer():
    with pytest.raises(UserError, match=r"^removing channels of layer 'first' breaks the model \(IndexError: "):
        pb.prune(_FixedChannelOrder().eval(), torch.randn(1, 3, 16, 16), "MagnitudeL2", 2.0)
