"""The training loop's recipe options: AdamW's weight-decay exemptions, mixup/CutMix targets, full mixing batches,
bf16 autocast with channels_last, precision auto (bf16 only where the device has native bf16), and fp16 refused
where no CUDA device runs it."""

from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from pruningbench.config import Recipe
from pruningbench.errors import UserError
from pruningbench.models import create_model
from pruningbench.pipeline import _plugin_and_precision_notes
from pruningbench.pipeline.train import _mixing, _optimizer, _Precision, training_precision
from pruningbench.pipeline.workload import ClassificationWorkload
from tests.plugin import fashion_mnist_tiny

CPU = torch.device("cpu")


def test_adamw_decays_weights_but_not_biases_or_norm_scales():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8, 2))
    optimizer = _optimizer(model, Recipe(epochs=1, lr=1e-3, optimizer="adamw", weight_decay=0.3))
    assert isinstance(optimizer, torch.optim.AdamW)
    decay = {group["weight_decay"]: [p.ndim for p in group["params"]] for group in optimizer.param_groups}
    assert sorted(decay[0.3]) == [2, 4] and decay[0.0] == [1, 1, 1, 1]


def test_sgd_recipe_decays_every_parameter():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    optimizer = _optimizer(model, Recipe(epochs=1, lr=0.1, weight_decay=5e-4))
    assert isinstance(optimizer, torch.optim.SGD) and [g["weight_decay"] for g in optimizer.param_groups] == [5e-4]


def test_mixup_mixes_each_image_with_its_mirror_and_its_targets_alike():
    mixing = _mixing(Recipe(epochs=1, lr=0.1, mixup=1.0), num_classes=4)
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2).clone()
    mixed, targets = mixing(images, torch.tensor([0, 1, 2, 3]))
    lam = 1.0 - float(mixed[0, 0, 0, 0]) / 3.0  # image 0 (all 0) mixed with image 3 (all 3): (1 - lam) * 3
    expected = lam * torch.eye(4) + (1 - lam) * torch.eye(4).flip(0)
    assert torch.allclose(mixed.flatten(1)[:, 0], expected @ torch.arange(4.0))
    assert torch.allclose(targets, expected) and torch.allclose(targets.sum(1), torch.ones(4))


def test_mixing_is_off_by_default():
    assert _mixing(Recipe(epochs=1, lr=0.1), num_classes=4) is None


def test_mixup_training_drops_the_odd_last_batch(tiny_config):
    # 101 images in batches of 10 leave a last batch of 1, which timm's pairwise mixup cannot take
    config = tiny_config(
        **{"finetune.mixup": 0.2, "finetune.cutmix": 1.0, "finetune.batch_size": 10, "task.data_on_device": False}
    )  # the DataLoader path, on the 101-image slice
    data = fashion_mnist_tiny()
    work = ClassificationWorkload(replace(data, train=Subset(data.train, range(101))), config, CPU)
    model = create_model(config.task.model, num_classes=work.num_classes, in_channels=work.input_shape[0])
    before = [p.detach().clone() for p in model.parameters()]
    assert work.train(model, config.finetune, seed=0, desc="finetune") > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_mixup_with_an_odd_batch_size_is_a_config_error(tiny_config):
    with pytest.raises(UserError, match="finetune.*even batch_size"):
        tiny_config(**{"finetune.mixup": 0.2, "finetune.batch_size": 45})


def _trained_top1(recipe: Recipe) -> tuple[float, nn.Module]:
    from pruningbench.data import make_loader
    from pruningbench.data.embedded import fashion_mnist_embedded
    from pruningbench.metrics import evaluate_topk
    from pruningbench.pipeline.train import train
    from pruningbench.seeding import seed_everything

    data = fashion_mnist_embedded()
    seed_everything(0)
    model = create_model("resnet8_quick", num_classes=data.num_classes, in_channels=1)
    train(model, make_loader(data.train, recipe.batch_size, shuffle=True, seed=0), recipe, CPU, "train", seed=0)
    top1 = evaluate_topk(model, make_loader(data.test, 500, shuffle=False, seed=0), CPU)["top1"]
    return top1, model


def test_a_bf16_channels_last_recipe_trains_as_well_as_fp32_in_the_same_epochs():
    fp32 = Recipe(epochs=2, lr=0.1, batch_size=128, schedule="cosine")
    top1_fp32, _ = _trained_top1(fp32)
    top1_bf16, model = _trained_top1(fp32.model_copy(update={"precision": "bf16", "channels_last": True}))
    assert abs(top1_bf16 - top1_fp32) <= 1.0, (top1_fp32, top1_bf16)  # 1,000 test images: 1 point is 10 of them
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert all(conv.weight.is_contiguous(memory_format=torch.channels_last) for conv in convs)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: the weights stay fp32


def test_fp16_without_a_cuda_device_is_a_one_line_error(tiny_config):
    with pytest.raises(UserError, match="finetune.precision fp16 needs a CUDA device"):
        tiny_config(**{"finetune.precision": "fp16", "device": "cpu"})
    with pytest.raises(UserError, match="precision: Input should be 'fp32', 'bf16', 'fp16' or 'auto'"):
        tiny_config(**{"base_training.precision": "int8"})
    if not torch.cuda.is_available():  # device auto on a machine without CUDA: refused when the run starts
        from pruningbench.pipeline import run_experiment
        from pruningbench.store import ResultStore

        config = tiny_config(**{"finetune.precision": "fp16"})
        with pytest.raises(UserError, match="finetune.precision fp16 needs a CUDA device"):
            run_experiment(config, ResultStore.in_dir(config.results_dir))


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"), [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")]
)
def test_precision_auto_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert training_precision("auto", CPU) == expected
    assert _Precision(Recipe(epochs=1, lr=0.1, precision="auto"), CPU).dtype == {"bf16": torch.bfloat16}.get(expected)
    assert [training_precision(p, CPU) for p in ("fp32", "bf16")] == ["fp32", "bf16"]  # explicit values stay


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_on_cuda_asks_for_bf16_units_not_emulation(monkeypatch, native):
    asked = []
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: asked.append(including_emulation) or native
    )
    assert training_precision("auto", torch.device("cuda", 0)) == ("bf16" if native else "fp32")
    assert asked == [False]


def test_a_run_with_precision_auto_records_what_it_trained_in(tiny_config, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    notes = _plugin_and_precision_notes(tiny_config(**{"finetune.precision": "auto"}), CPU)
    assert notes["training precision (auto)"] == "fp32"
    fixed = {f"{recipe}.precision": "fp32" for recipe in ("base_training", "finetune", "sparsify")}
    assert "training precision (auto)" not in _plugin_and_precision_notes(tiny_config(**fixed), CPU)
