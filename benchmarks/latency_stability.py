"""How much the reported latency speed-up moves when another process keeps a core busy.

ResNet18-CIFAR-100 (random init) pruned to 2x MACs with MagnitudeL2 is measured 5 times on a quiet machine and 5
times while a busy-loop process runs, each way the pipeline could measure it:
- interleaved pairs (what runs use): base and pruned alternate, the median of per-pair ratios is reported;
- sequential medians (what runs used before): all base passes, then all pruned passes, ratio of the two medians.
Reported: each method's speed-ups, and the worst deviation under load from its quiet median (goal: within ±5%).

    python benchmarks/latency_stability.py [--batch 16] [--repeats 20] [--trials 5] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time

import torch

from pruningbench.config import PruneConfig
from pruningbench.methods.importance import create_criterion
from pruningbench.latency import measure_speedup
from pruningbench.models import create_model
from pruningbench.pipeline.prune import prune_to_speedup

BUSY = "import time\nend = time.time() + 600\nwhile time.time() < end: pass"


@torch.no_grad()
def sequential(base, pruned, shape, batch: int, warmup: int, repeats: int) -> float:
    """The earlier measurement: base timed alone, then pruned timed alone; ratio of the medians."""
    inputs = torch.randn(batch, *shape)
    medians = []
    for model in (base, pruned):
        model.eval()
        for _ in range(warmup):
            model(inputs)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return medians[0] / medians[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = create_model("resnet18_cifar", num_classes=100)
    pruned = copy.deepcopy(base)
    prune_to_speedup(pruned, create_criterion("MagnitudeL2"), torch.randn(1, 3, 32, 32), PruneConfig(speedup=2))
    shape = (3, 32, 32)
    print(f"ResNet18-CIFAR-100 at 2x MACs, batch {args.batch}, {args.repeats} timed passes each, "
          f"{torch.get_num_threads()} threads")
    figures: dict[str, dict[str, list[float]]] = {"interleaved": {}, "sequential": {}}
    for condition in ("quiet", "one core busy"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if condition != "quiet" else None
        try:
            for _ in range(args.trials):
                measured = measure_speedup(base, pruned, shape, args.batch, 5, args.repeats, threads=args.threads)
                figures["interleaved"].setdefault(condition, []).append(measured.speedup)
                figures["sequential"].setdefault(condition, []).append(
                    sequential(base, pruned, shape, args.batch, 5, args.repeats))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    for method, by_condition in figures.items():
        quiet = statistics.median(by_condition["quiet"])
        loaded = by_condition["one core busy"]
        worst = max(abs(value / quiet - 1) for value in loaded)
        shown = {c: ", ".join(f"{v:.2f}" for v in values) for c, values in by_condition.items()}
        print(f"{method:<12} quiet [{shown['quiet']}] busy [{shown['one core busy']}]: "
              f"worst deviation under load {100 * worst:.1f}% of the quiet median {quiet:.2f}x")


if __name__ == "__main__":
    main()
