"""How close the prune stage lands to the target MACs speed-up, per scope and target.

Prunes a randomly initialized model (ResNet18-CIFAR-100 by default) with MagnitudeL2 to 2x/4x/8x under every scope
and prints target vs achieved speed-up (MACs counted on the pruned model, not predicted) and the remaining params.
Exit code 1 if any achieved speed-up falls outside [1.00, 1.01] x target.

    python benchmarks/speedup_accuracy.py [--model resnet18_cifar] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from pruningbench.config import PruneConfig
from pruningbench.methods.importance import create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline.prune import SPEEDUP_TOLERANCE, prune_to_speedup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18_cifar")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--input", type=int, nargs=3, default=(3, 32, 32), metavar=("C", "H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"| model | scope | target | achieved | achieved/target | params after (M) | params % | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    failures = 0
    for scope in ("local", "global", "protected_global"):
        for target in (2.0, 4.0, 8.0):
            torch.manual_seed(args.seed)
            model = create_model(args.model, num_classes=args.classes, in_channels=args.input[0])
            started = time.perf_counter()
            outcome = prune_to_speedup(
                model, create_criterion("MagnitudeL2"), torch.randn(1, *args.input), PruneConfig(speedup=target, scope=scope)
            )
            ratio = outcome.achieved_speedup / target
            failures += not 1.0 <= ratio <= 1.0 + SPEEDUP_TOLERANCE
            print(
                f"| {args.model} | {scope} | {target:g}x | {outcome.achieved_speedup:.4f}x | {ratio:.4f} | "
                f"{outcome.params_after / 1e6:.2f} | {100 * outcome.params_after / outcome.params_before:.2f} | "
                f"{time.perf_counter() - started:.2f} |"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
