"""The detection workload on a tiny generated box set: calibration with boxes, loss-based criteria, regularizers."""

import pytest
import torch

pytest.importorskip("ultralytics")

from pruningbench.config import PruneConfig, load_preset  # noqa: E402
from pruningbench.methods.importance import create_criterion  # noqa: E402
from pruningbench.models import create_model  # noqa: E402
from pruningbench.pipeline.prune import prune_to_speedup  # noqa: E402
from pruningbench.pipeline.workload import workload_for  # noqa: E402
from tests.data.test_coco import make_detection_set  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture
def detection_config(tmp_path):
    yaml = make_detection_set(tmp_path / "tiny")
    recipe = {"epochs": 1, "batch_size": 4, "warmup_epochs": 0}
    overrides = {
        "task.data_root": str(yaml), "task.image_size": 64, "task.pretrained": False,
        **{f"{stage}.{k}": v for stage in ("base_training", "finetune", "sparsify") for k, v in recipe.items()},
        "sparsify.reg": 0.01, "eval_batch_size": 4, "calibration.batches": 2, "calibration.batch_size": 3,
        "results_dir": str(tmp_path / "results"),
    }
    return lambda **changes: load_preset("coco-yolov8m-2x", {**overrides, **changes})


def test_calibration_batches_carry_each_images_boxes(detection_config):
    batches = workload_for(detection_config(), CPU).calibration(detection_config().calibration, seed=0)
    assert [len(images) for images, _ in batches] == [3, 3]
    images, targets = batches[0]
    assert images.shape == (3, 3, 64, 64) and 0.0 <= images.min() and images.max() <= 1.0
    assert targets["batch_idx"].tolist() == [0, 0, 1, 1, 2, 2]  # two boxes per generated image
    assert targets["cls"].flatten().tolist() == [0, 1, 0, 1, 0, 1] and targets["bboxes"].shape == (6, 4)


@pytest.mark.parametrize("criterion", ["Taylor", "OBD-C", "OBD-Hessian"])
def test_loss_based_criteria_use_the_detection_loss(detection_config, criterion):
    config = detection_config()
    calibration = workload_for(config, CPU).calibration(config.calibration, seed=0)
    model = create_model("yolov8m", num_classes=2)
    outcome = prune_to_speedup(model, create_criterion(criterion), torch.zeros(1, 3, 64, 64), PruneConfig(speedup=2),
                               calibration)
    assert 2.0 <= outcome.achieved_speedup <= 2.02 and outcome.step_time > 0


def test_a_regularizer_runs_inside_ultralytics_training(detection_config, monkeypatch):
    from pruningbench.methods.regularizers.group_lasso import GroupLASSO
    from pruningbench.pipeline.sparsify import sparsify

    applied, epochs = [], []
    original = GroupLASSO.apply
    monkeypatch.setattr(GroupLASSO, "apply", lambda self: (applied.append(1), original(self))[1])
    monkeypatch.setattr(GroupLASSO, "epoch_end", lambda self: epochs.append(1))
    config = detection_config(**{"method.regularizer": "GroupLASSO"})
    work = workload_for(config, CPU)
    model = create_model("yolov8m", num_classes=2)
    assert sparsify(model, config, work, CPU, None) > 0
    # one penalty per optimizer step: ultralytics accumulates gradients up to a nominal batch of 64 images, so the
    # 8 images of the epoch make one step; one epoch-end schedule update
    assert len(applied) == 1 and epochs == [1]


@pytest.mark.slow
@pytest.mark.parametrize("criterion", ["Taylor", "OBD-C", "OBD-Hessian"])
@pytest.mark.parametrize("speedup", [3.0, 4.0])
def test_loss_based_criteria_on_yolov8m_at_higher_targets(detection_config, criterion, speedup):
    config = detection_config()
    calibration = workload_for(config, CPU).calibration(config.calibration, seed=0)
    model = create_model("yolov8m", num_classes=2)
    outcome = prune_to_speedup(model, create_criterion(criterion), torch.zeros(1, 3, 64, 64),
                               PruneConfig(speedup=speedup), calibration)
    assert speedup <= outcome.achieved_speedup <= 1.01 * speedup


def test_an_interrupted_detection_sparsifying_stage_resumes_at_the_next_epoch(detection_config, monkeypatch):
    import pruningbench.pipeline.detection as detection
    from pruningbench.pipeline.sparsify import sparsify

    config = detection_config(**{"method.regularizer": "GrowingReg", "sparsify.epochs": 2, "sparsify.delta_reg": 0.25})
    saved, real_save = [], detection.atomic_save

    def save_then_maybe_kill(payload, path):
        real_save(payload, path)
        saved.append(payload)
        if kill:
            raise KeyboardInterrupt

    monkeypatch.setattr(detection, "atomic_save", save_then_maybe_kill)
    kill = True
    with pytest.raises(KeyboardInterrupt):
        sparsify(create_model("yolov8m", num_classes=2), config, workload_for(config, CPU), CPU, None)
    assert [payload["epoch"] for payload in saved] == [1]
    assert list((config.results_dir / "cache" / "sparse").glob("*.partial.pt"))

    kill = False
    model = create_model("yolov8m", num_classes=2)
    assert sparsify(model, config, workload_for(config, CPU), CPU, None) > saved[0]["seconds"]
    assert [payload["epoch"] for payload in saved] == [1, 2]  # only epoch 2 was trained again
    # GrowingReg's coefficients went on growing from the saved ones: reg + 2 * delta_reg after two epochs
    grown = max(float(c.max()) for c in saved[1]["regularizer"]["coefficients"])
    assert grown == pytest.approx(config.sparsify.reg + 2 * config.sparsify.delta_reg)
    assert not list((config.results_dir / "cache" / "sparse").glob("*.partial.pt"))
