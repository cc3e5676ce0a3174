"""Where HRank's CPU step time goes, and the floor torch sets under it.

Issue 13's CPU proxy asks every data-driven criterion for a step time <= 1.5x the calibration passes it needs; HRank
needs one forward, so its ranks may cost at most half a forward. ResNet18-CIFAR-100 (random weights) on random 32x32
images; every conv output's maps, by map size:

- on one thread, per map: the float64 copy, the float64 Gram matrix (one batched GEMM), the Cholesky factorization
  (``torch.linalg.cholesky_ex``: one LAPACK call per matrix on a CPU) and HRank's whole rank path (``map_ranks``);
- the share of maps a float32 Gram matrix could prove full rank (the smallest eigenvalue above float32's rounding
  bound): why the proof runs in float64.

Then the whole calibration (``--batches`` batches): one forward with torch's threads inside each op (what the proxy
compares with), the same forward with the batches side by side on single-threaded workers (how HRank runs on a
CPU), and that forward with every conv output's ranks (HRank's calibration). The floor: copy, Gram and Cholesky of
every map on one thread, spread perfectly over the threads, as a share of the forward. Medians of ``--repeats``.

    python benchmarks/hrank_floor.py [--repeats 3] [--batches 10] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn

from pruningbench.methods.importance.calibration import batch_parallel, hooked
from pruningbench.methods.importance.hrank import map_ranks
from pruningbench.models import create_model


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def conv_outputs(model: nn.Module, convs: list[nn.Module], images: torch.Tensor) -> dict[int, list[torch.Tensor]]:
    """Every conv output of one forward pass, by map size."""
    outputs: dict[int, list[torch.Tensor]] = defaultdict(list)
    with hooked(convs, forward=lambda _m, _i, out: outputs[out.shape[-1]].append(out)), torch.no_grad():
        model(images)
    return outputs


def float32_provable(maps: torch.Tensor) -> float:
    """Share of square maps whose smallest Gram eigenvalue clears float32's rounding bound plus the tolerance."""
    size = maps.shape[-1]
    eps32 = torch.finfo(torch.float32).eps
    gram = maps.double().mT @ maps.double()
    trace = gram.diagonal(dim1=-2, dim2=-1).sum(-1)
    smallest = torch.linalg.eigvalsh(gram)[:, 0]
    return (smallest > trace * ((size * eps32) ** 2 + (2 * size + 2) * eps32)).double().mean().item()


def size_costs(layer: torch.Tensor, repeats: int) -> tuple[list[float], float]:
    """Seconds per map, on this thread: copy, Gram and Cholesky of up to 512 maps; the whole rank path of the layer."""
    maps = layer.reshape(-1, *layer.shape[-2:])
    chunk = maps[:512]
    wide = chunk.double()
    gram = wide.mT @ wide
    steps = (lambda: wide.copy_(chunk), lambda: wide.mT @ wide, lambda: torch.linalg.cholesky_ex(gram))
    per_map = [median_seconds(step, repeats) / len(chunk) for step in steps]
    return per_map, median_seconds(lambda: map_ranks(layer), repeats) / len(maps)


def per_map_costs(outputs: dict[int, list[torch.Tensor]], repeats: int) -> tuple[float, float]:
    """Print the per-size table; return the seconds of (copy + Gram + Cholesky, whole rank path) of every map."""
    print("| maps | layers x maps | copy | Gram | Cholesky | rank path | float32 could prove |")
    print("|---|---|---|---|---|---|---|")
    floor = path_total = 0.0
    for size, layers in sorted(outputs.items(), reverse=True):
        per_map, path = size_costs(layers[0], repeats)
        maps = layers[0].shape[0] * layers[0].shape[1]
        floor += sum(per_map) * maps * len(layers)
        path_total += path * maps * len(layers)
        copy, gram, cholesky = (f"{seconds * 1e6:.2f} us" for seconds in per_map)
        provable = float32_provable(layers[0].reshape(-1, size, size)[:512])
        print(
            f"| {size}x{size} | {len(layers)} x {maps} | {copy} | {gram} | {cholesky} | {path * 1e6:.2f} us "
            f"| {provable:.0%} |"
        )
    return floor, path_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    model = create_model("resnet18_cifar", num_classes=100).eval()
    convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    batches = [(torch.randn(args.batch_size, 3, 32, 32), None) for _ in range(args.batches)]
    print(
        f"ResNet18-CIFAR-100, {args.batches}x{args.batch_size} images, torch {torch.__version__}, {threads} threads\n"
    )

    torch.set_num_threads(1)
    floor, path = per_map_costs(conv_outputs(model, convs, batches[0][0]), args.repeats)
    torch.set_num_threads(threads)

    def forward(_position: int, batch: tuple[torch.Tensor, None]) -> None:
        with torch.no_grad():
            model(batch[0])

    def side_by_side() -> None:
        list(batch_parallel(forward, batches, "forward"))

    inside_ops = median_seconds(
        lambda: [forward(position, batch) for position, batch in enumerate(batches)], args.repeats
    )
    parallel = median_seconds(side_by_side, args.repeats)

    def ranks(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        map_ranks(output)

    with hooked(convs, forward=ranks):
        ranked = median_seconds(side_by_side, args.repeats)
    print(
        f"\nforward, threads inside each op: {inside_ops:.2f} s; batches side by side: {parallel:.2f} s; "
        f"with the ranks (HRank's calibration): {ranked:.2f} s = {ranked / inside_ops:.2f}x the first, "
        f"{ranked / parallel:.2f}x the second"
    )
    floor, path = floor * args.batches / threads, path * args.batches / threads
    print(
        f"copy + Gram + Cholesky of every map, spread perfectly over {threads} threads: {floor:.2f} s, "
        f"{1 + floor / inside_ops:.2f}x with the forward (the floor); the whole rank path so: {path:.2f} s, "
        f"{1 + path / inside_ops:.2f}x"
    )


if __name__ == "__main__":
    main()
