"""Images per second of the pipeline's training loop against a bare loop, per precision, layout and data path.

The finetune loop (``pruningbench.pipeline.train.train``) trains ResNet18-CIFAR-100 on random images in the CIFAR-100
file format (written to a temporary folder, read by the real dataset code) at batch 128 for ``--steps`` steps, in
fp32, bf16 and bf16 + channels_last, fed by the DataLoader (torchvision transforms) and by the device-resident path.
The bare loop trains the same model with the same optimizer and precision on one fixed batch already on the device:
the most the loop could reach. Reported: images/s of each, and pipeline / bare in the same run (goal on a GPU: the
device-resident loop >= 0.9x the bare loop).

    python benchmarks/train_throughput.py [--model resnet18_cifar] [--steps 30] [--batch 128] [--device auto]
        [--precisions fp32 bf16 bf16+cl] [--out results/benchmarks/train_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pruningbench.config import Recipe
from pruningbench.data import build_dataset, make_loader
from pruningbench.data.resident import ResidentLoader
from pruningbench.models import create_model
from pruningbench.pipeline import resolve_device
from pruningbench.pipeline.train import _optimizer, train


def write_cifar(root: Path, images: int) -> None:
    """Random images in the official CIFAR-100 pickle format."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, count in (("train", images), ("test", 256)):
        batch = {
            "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            "fine_labels": rng.integers(0, 100, count).tolist(),
            "coarse_labels": [0] * count,
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "meta").write_bytes(
        pickle.dumps({"fine_label_names": [str(i) for i in range(100)], "coarse_label_names": ["c"]})
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(model: nn.Module, recipe: Recipe, device: torch.device, steps: int) -> float:
    """Images/s of forward, backward and SGD step on one fixed batch on the device, nothing else."""
    optimizer = _optimizer(model, recipe)
    images = torch.randn(recipe.batch_size, 3, 32, 32, device=device)
    labels = torch.randint(0, 100, (recipe.batch_size,), device=device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(recipe.precision)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(steps + 2):  # two untimed warm-up steps
        if step == 2:
            sync(device)
            started = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return steps * recipe.batch_size / (time.perf_counter() - started)


def pipeline_loop(model: nn.Module, loader, recipe: Recipe, device: torch.device) -> float:
    """Images/s of the pipeline's loop over one epoch of ``loader`` (its first two steps run before, untimed)."""
    train(model, _Take(loader, 2), recipe.model_copy(update={"epochs": 1}), device, "warm-up")
    sync(device)
    seconds = train(model, loader, recipe.model_copy(update={"epochs": 1}), device, "timed")
    sync(device)
    return len(loader) * recipe.batch_size / seconds


class _Take:
    """The first ``count`` batches of a loader, with the loader's generator (the loop seeds it)."""

    def __init__(self, loader, count: int) -> None:
        self.loader, self.count, self.generator = loader, count, getattr(loader, "generator", None)

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for index, batch in enumerate(self.loader):
            if index == self.count:
                return
            yield batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18_cifar")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "bf16+cl"])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/train_throughput.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        write_cifar(Path(root), args.steps * args.batch)
        data = build_dataset("cifar100", Path(root))
        assert data.resident is not None
        for setting in args.precisions:
            precision, channels_last = setting.removesuffix("+cl"), setting.endswith("+cl")
            recipe = Recipe(epochs=1, lr=0.01, batch_size=args.batch, precision=precision, channels_last=channels_last)
            torch.manual_seed(0)
            bare = bare_loop(create_model(args.model, num_classes=100).to(device), recipe, device, args.steps)
            loaders = {
                "dataloader": make_loader(data.train, args.batch, shuffle=True, seed=0, workers=args.workers),
                "device-resident": ResidentLoader(data.resident, True, args.batch, device),
            }
            for path, loader in loaders.items():
                torch.manual_seed(0)
                speed = pipeline_loop(create_model(args.model, num_classes=100).to(device), loader, recipe, device)
                rows.append(
                    {
                        "precision": setting,
                        "data": path,
                        "images_per_s": round(speed, 1),
                        "bare_images_per_s": round(bare, 1),
                        "ratio_to_bare": round(speed / bare, 3),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"device": name, "setup": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=1)
    )
    print(f"\n{args.model} on {name}, batch {args.batch}, {args.steps} steps")
    print("| precision | data | images/s | bare loop images/s | pipeline / bare |\n|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['precision']} | {row['data']} | {row['images_per_s']:.0f} | {row['bare_images_per_s']:.0f} | "
            f"{row['ratio_to_bare']:.2f} |"
        )


if __name__ == "__main__":
    main()
