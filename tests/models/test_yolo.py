"""YOLOv8m: built offline from ultralytics' YAML, made prunable without changing what it computes."""

import pytest
import torch

from pruningbench.config import PruneConfig
from pruningbench.errors import UserError
from pruningbench.methods.importance import create_criterion
from pruningbench.metrics import count_params
from pruningbench.models import create_model
from pruningbench.models.yolo import C2fSplit, split_c2f_blocks
from pruningbench.pipeline.prune import prune_to_speedup

ultralytics_tasks = pytest.importorskip("ultralytics.nn.tasks")


def test_yolov8m_has_the_papers_parameter_count():
    assert count_params(create_model("yolov8m", num_classes=80)) == 25_902_640


def test_splitting_c2f_keeps_the_outputs():
    torch.manual_seed(0)
    original = ultralytics_tasks.DetectionModel("yolov8s.yaml", nc=5, verbose=False).eval()
    for module in original.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = original(images)[0]
        split = split_c2f_blocks(original)
        assert any(isinstance(m, C2fSplit) for m in split.modules())
        assert torch.allclose(split(images)[0], expected, atol=1e-4)


@pytest.mark.parametrize("criterion", ["MagnitudeL2", "BNScale", "ThiNet"])
@pytest.mark.parametrize("speedup", [2.0, 3.0, 4.0])
def test_yolov8m_prunes_to_target_keeping_the_detection_layout(criterion, speedup, tmp_path):
    from pruningbench.checkpoint import load_pruned, save_pruned

    model = create_model("yolov8m", num_classes=80)
    calibration = [(torch.randn(2, 3, 64, 64), torch.zeros(2, dtype=torch.long))]
    outcome = prune_to_speedup(
        model, create_criterion(criterion), torch.randn(1, 3, 64, 64), PruneConfig(speedup=speedup), calibration
    )
    assert speedup <= outcome.achieved_speedup <= 1.01 * speedup
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        output = model.eval()(images)[0]
    assert output.shape == (1, 4 + 80, 84)  # boxes + class scores for (8x8 + 4x4 + 2x2) anchors
    save_pruned(model, tmp_path / "yolo.pt", "yolov8m", 80, 3, 64)
    with torch.no_grad():
        assert torch.allclose(load_pruned(tmp_path / "yolo.pt")(images)[0], output, atol=1e-4)


def test_class_labels_for_a_detector_are_a_clear_error():
    model = create_model("yolov8m", num_classes=80)
    calibration = [(torch.randn(2, 3, 64, 64), torch.zeros(2, dtype=torch.long))]
    with pytest.raises(UserError, match="need class logits or a model with its own loss"):
        prune_to_speedup(model, create_criterion("Taylor"), torch.randn(1, 3, 64, 64), PruneConfig(speedup=2), calibration)
