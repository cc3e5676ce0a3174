"""Step time (importance computation only) of every criterion, as a ratio to MagnitudeL2 measured in the same run.

ResNet18-CIFAR-100 with random weights, 32x32 inputs, the reference calibration budget (10 batches of 64 images;
random images: step time does not depend on what the pixels show), protected global pruning to 2x. Each criterion
is timed ``--repeats`` times and the median is reported, with the paper's ratio beside it. The CPU proxy: a
data-driven criterion's step time over the calibration passes it needs (one forward over the same batches, or one
forward + backward for criteria with ``gradients``), timed alternately with the criterion (A B A B) and reported
as the median of the per-pair ratios, which a busy neighbour moves much less than either time (goal: <= 1.5x).
On a CPU every criterion runs in a fresh process, as the pipeline runs every run in a child process of its own: the
memory a previous criterion left to the allocator moved the next one's ratio by up to 0.3 on a shared 2-core VM.

    python benchmarks/criteria_step_time.py [--model resnet18_cifar] [--batches 10] [--batch-size 64] [--criteria ...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch
import torch.nn.functional as F

from pruningbench.config import PruneConfig
from pruningbench.methods.importance import CRITERIA, create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline.prune import prune_to_speedup

PAPER_RATIOS = {"Taylor": 6, "OBD-C": 19, "ThiNet": 30, "CP": 164, "OBD-Hessian": 406, "HRank": 2100}


def step_time(model_name: str, criterion: str, calibration: list, device: torch.device) -> float:
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=100).to(device)
    outcome = prune_to_speedup(
        model,
        create_criterion(criterion),
        torch.randn(1, 3, 32, 32, device=device),
        PruneConfig(speedup=2),
        calibration,
    )
    return outcome.step_time


def calibration_passes(model_name: str, calibration: list, device: torch.device, backward: bool) -> float:
    """Seconds of one forward (and backward) pass of the model over every calibration batch, in eval mode."""
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=100).to(device).eval()
    started = time.perf_counter()
    for images, labels in calibration:
        with torch.set_grad_enabled(backward):
            loss = F.cross_entropy(model(images), labels)
        if backward:
            model.zero_grad(set_to_none=True)
            loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def calibration_batches(args: argparse.Namespace, device: torch.device) -> list:
    """The random calibration set: the same batches for every criterion and process (seeded)."""
    generator = torch.Generator().manual_seed(0)
    return [
        (
            torch.randn(args.batch_size, 3, 32, 32, generator=generator).to(device),
            torch.randint(0, 100, (args.batch_size,), generator=generator).to(device),
        )
        for _ in range(args.batches)
    ]


def measure(name: str, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """The criterion's step times and, for a calibrated one, its calibration passes, alternating A B A B."""
    device = torch.device(args.device)
    calibration = calibration_batches(args, device)
    kind = CRITERIA.get(name)
    seconds, passes = [], []
    for _ in range(args.repeats if not kind.calibrated else max(1, args.repeats // 3)):
        seconds.append(step_time(args.model, name, calibration, device))
        if kind.calibrated:
            passes.append(calibration_passes(args.model, calibration, device, kind.gradients))
    return seconds, passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18_cifar")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--criteria", nargs="+", default=CRITERIA.names(), help="MagnitudeL2 is always timed too")
    args = parser.parse_args()
    device = torch.device(args.device)
    times: dict[str, float] = {}
    proxies: dict[str, float] = {}
    passes: dict[bool, list[float]] = {False: [], True: []}
    fresh = multiprocessing.get_context("spawn")
    for name in dict.fromkeys(["MagnitudeL2", *args.criteria]):
        if device.type == "cpu":  # a fresh process for each criterion, as the pipeline runs every run
            with ProcessPoolExecutor(1, mp_context=fresh) as process:
                seconds, calibration = process.submit(measure, name, args).result()
        else:  # CUDA's start-up in every process would cost more than the steps
            seconds, calibration = measure(name, args)
        times[name] = statistics.median(seconds)
        if calibration:
            passes[CRITERIA.get(name).gradients] += calibration
            proxies[name] = statistics.median(step / both for step, both in zip(seconds, calibration, strict=True))
    reference = times["MagnitudeL2"]
    print(
        f"{args.model}, {args.batches}x{args.batch_size} calibration images, device {device}, torch {torch.__version__}"
    )
    forward, backward = (statistics.median(passes[b]) if passes[b] else float("nan") for b in (False, True))
    print(f"calibration passes (median): forward {forward:.3f} s, forward + backward {backward:.3f} s")
    print(
        "| criterion | step time | ratio to MagnitudeL2 | paper ratio | step time / calibration passes (median of pairs) |"
    )
    print("|---|---|---|---|---|")
    for name, seconds in sorted(times.items(), key=lambda item: item[1]):
        paper = PAPER_RATIOS.get(name)
        proxy = f"{proxies[name]:.2f}x" if name in proxies else "-"
        print(f"| {name} | {seconds:.3f} s | {seconds / reference:.1f}x | {f'{paper}x' if paper else '-'} | {proxy} |")


if __name__ == "__main__":
    main()
