"""End to end on real (tiny) data: base training, pruning, finetuning, storing, reloading."""

from pathlib import Path

import pytest

import pruningbench.pipeline as pipeline
import pruningbench.pipeline.workload as workload
from pruningbench.checkpoint import load_pruned
from pruningbench.data import build_dataset, make_loader
from pruningbench.metrics import count_params, evaluate_topk
from pruningbench.pipeline.base_model import base_cache_path
from pruningbench.store import ResultStore


def test_run_records_everything_and_the_saved_model_reloads(tiny_config):
    config = tiny_config(**{"prune.speedup": 4})
    store = ResultStore.in_dir(config.results_dir)
    record = pipeline.run_experiment(config, store)

    assert store.records() == [record]
    assert 4.0 <= record.achieved_speedup <= 4.04
    assert record.base_metric > 40  # 10 classes: chance is 10%
    assert record.params_after < record.params_before and record.macs_after < record.macs_before
    assert record.step_time > 0 and record.finetune_time > 0 and record.reg_time is None
    assert record.base_latency_ms > 0 and record.latency_ms > 0 and record.latency_device.startswith("cpu")
    assert record.channels_after["classifier"] == 10 and record.channels_after["conv1"] < 16
    assert record.versions["torch_pruning"] and record.config["prune"]["speedup"] == 4

    model = load_pruned(config.results_dir / record.model_path)
    assert count_params(model) == record.params_after
    data = build_dataset(config.task.dataset)
    metrics = evaluate_topk(model, make_loader(data.test, 256, False, 0), pipeline.resolve_device("cpu"))
    assert metrics["top1"] == pytest.approx(record.pruned_metric)
    assert record.pruned_metrics == pytest.approx(metrics) and metrics["top5"] >= metrics["top1"]
    assert record.base_metrics["top1"] == record.base_metric and record.base_metrics["top5"] >= record.base_metric


def test_base_model_is_cached_and_stored_runs_are_reused(tiny_config, monkeypatch):
    first = tiny_config(**{"prune.speedup": 2})
    store = ResultStore.in_dir(first.results_dir)
    record = pipeline.run_experiment(first, store)
    cache = base_cache_path(first)
    stamp = cache.stat().st_mtime_ns

    trained = []
    original_train = workload.train
    monkeypatch.setattr(workload, "train", lambda *a, **k: (trained.append(k["desc"]), original_train(*a, **k))[1])
    second = pipeline.run_experiment(tiny_config(**{"prune.speedup": 3}), store)
    assert trained == ["finetune"]  # no base training: the cached base model was reused
    assert cache.stat().st_mtime_ns == stamp and second.base_metric == record.base_metric
    shown = f"{first.latency.engines[0]}@{first.latency.batch_size}"
    own_medians = [run.latencies[shown]["base_ms"] for run in (record, second)]
    assert record.base_latency_ms == own_medians[0]  # the first timing of this base is its reference
    assert second.base_latency_ms == second.latencies[shown]["base_reference_ms"] == min(own_medians)
    assert second.latency_ms == pytest.approx(second.base_latency_ms / second.latency_ratio)

    trained.clear()
    again = pipeline.run_experiment(first, store)  # already stored: nothing runs
    assert again == record and trained == []


def test_interrupted_finetune_leaves_the_store_intact(tiny_config, monkeypatch):
    config = tiny_config(**{"prune.speedup": 2})
    store = ResultStore.in_dir(config.results_dir)
    earlier = pipeline.run_experiment(config, store)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workload, "train", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_experiment(tiny_config(**{"prune.speedup": 4}), store)
    assert ResultStore.in_dir(config.results_dir).records() == [earlier]
    assert sorted(p.name for p in (config.results_dir / "models").iterdir()) == [Path(earlier.model_path).name]


def test_imagenet_resnet18_end_to_end_on_a_tiny_image_folder(tmp_path):
    from pruningbench.config import load_preset
    from tests.data.test_imagenet import make_image_folder

    root = make_image_folder(tmp_path / "imagenet", train_per_class=6, val_per_class=2)
    small = {"epochs": 1, "batch_size": 6, "warmup_epochs": 0}
    overrides = {
        "task.data_root": str(root), "task.image_size": 32, "task.pretrained": False, "task.workers": 0,
        **{f"base_training.{k}": v for k, v in small.items()}, **{f"finetune.{k}": v for k, v in small.items()},
        "calibration.batches": 1, "calibration.batch_size": 6, "latency.repeats": 2, "latency.batch_size": 2,
        "method.importance": "Taylor", "results_dir": str(tmp_path / "results"),
    }
    config = load_preset("imagenet-resnet18-3x", overrides)
    store = ResultStore.in_dir(config.results_dir)
    record = pipeline.run_experiment(config, store)
    assert 3.0 <= record.achieved_speedup <= 3.03 and record.task == "resnet18 on imagenet"
    assert count_params(load_pruned(config.results_dir / record.model_path)) == record.params_after
    assert 0 <= record.pruned_metric <= 100 and store.records() == [record]


def test_vit_small_with_a_regularizer_end_to_end_on_a_tiny_image_folder(tmp_path):
    from pruningbench.config import load_preset
    from tests.data.test_imagenet import make_image_folder

    root = make_image_folder(tmp_path / "imagenet", train_per_class=4, val_per_class=2)
    small = {"epochs": 1, "batch_size": 6, "warmup_epochs": 0}
    overrides = {
        "task.data_root": str(root), "task.image_size": 32, "task.pretrained": False, "task.workers": 0,
        **{f"{stage}.{k}": v for stage in ("base_training", "finetune", "sparsify") for k, v in small.items()},
        "latency.repeats": 2, "latency.batch_size": 2, "method.regularizer": "GroupNorm",
        "results_dir": str(tmp_path / "results"),
    }
    config = load_preset("imagenet-vit-small-2x", overrides)
    record = pipeline.run_experiment(config, ResultStore.in_dir(config.results_dir))
    assert 2.0 <= record.achieved_speedup <= 2.02 and record.reg_time > 0
    model = load_pruned(config.results_dir / record.model_path)
    assert count_params(model) == record.params_after and model.blocks[0].attn.num_heads == 6


def test_yolov8m_prune_finetune_validate_on_a_tiny_detection_set(tmp_path):
    pytest.importorskip("ultralytics")
    from pruningbench.config import load_preset
    from tests.data.test_coco import make_detection_set

    yaml = make_detection_set(tmp_path / "tiny")
    recipe = {"epochs": 1, "batch_size": 4, "warmup_epochs": 0}
    overrides = {
        "task.data_root": str(yaml), "task.image_size": 64, "task.pretrained": False, "task.workers": 0,
        **{f"{stage}.{k}": v for stage in ("base_training", "finetune") for k, v in recipe.items()},
        "eval_batch_size": 4, "calibration.batches": 1, "calibration.batch_size": 4, "method.importance": "ThiNet",
        "latency.repeats": 2, "latency.batch_size": 2, "results_dir": str(tmp_path / "results"),
    }
    config = load_preset("coco-yolov8m-3x", overrides)
    store = ResultStore.in_dir(config.results_dir)
    record = pipeline.run_experiment(config, store)
    assert record.metric == "mAP50-95" and 0.0 <= record.pruned_metric <= 100.0 and store.records() == [record]
    assert 3.0 <= record.achieved_speedup <= 3.03 and record.finetune_time > 0
    model = load_pruned(config.results_dir / record.model_path)
    assert count_params(model) == record.params_after
