"""How much of a MACs speed-up is a real speed-up, and how close latency-targeted pruning lands.

ResNet18 / ResNet50 / VGG19 with CIFAR-100 shapes (random init: the timing does not depend on the weights' values)
are pruned with MagnitudeL2 under protected global pruning to 2x / 4x / 8x MACs with ``round_to`` 1 and 8, and to
2x / 3x / 4x / 8x measured latency (``prune.target: latency``, round_to 1 and 8: the run's own table and check), in
each engine.
Every pruned model is then measured against the dense one in interleaved pairs in that engine (the run's final
measurement). Reported per row: MACs speed-up, the latency table's predicted speed-up (latency targets), measured
latency speed-up with its 95% interval, and measured / MACs.

Goals: latency-targeted ResNet18 at 2x and 3x lands within 5% of the target in both engines; MACs-targeted ResNet18
at 2x with round_to 8 reaches measured / MACs >= 0.9 in both engines. On a CUDA machine it runs unchanged (ONNX
Runtime's CUDA provider when installed).

    python benchmarks/latency_vs_macs.py [--models resnet18_cifar ...] [--engines eager onnxruntime]
        [--kinds macs latency] [--round-to 1 8] [--channels-last] [--precision fp32]
        [--batch 16] [--repeats 20] [--threads N] [--device auto] [--out results/benchmarks/latency_vs_macs.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import tempfile
import time
from pathlib import Path

import torch

from pruningbench.config import PruneConfig
from pruningbench.errors import UserError
from pruningbench.latency import TimingSetup, measure_engines
from pruningbench.latency.target import LatencyAim
from pruningbench.methods.importance import create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline import resolve_device
from pruningbench.pipeline.prune import prune_to_speedup

SHAPE = (3, 32, 32)
MACS_TARGETS = (2.0, 4.0, 8.0)
LATENCY_TARGETS = (2.0, 3.0, 4.0, 8.0)


def rows_for(model_name: str, engine: str, setup: TimingSetup, args: argparse.Namespace, table_dir: Path) -> list[dict]:
    torch.manual_seed(0)
    base = create_model(model_name, num_classes=100, in_channels=3).to(setup.device).eval()
    example = torch.randn(1, *SHAPE, device=setup.device)
    plans = [("macs", target, round_to) for round_to in args.round_to for target in MACS_TARGETS]
    plans += [("latency", target, round_to) for round_to in args.round_to for target in LATENCY_TARGETS]
    plans = [plan for plan in plans if plan[0] in args.kinds]
    rows = []
    for kind, target, round_to in plans:
        model = copy.deepcopy(base)
        config = PruneConfig(speedup=target, round_to=round_to, target=kind)
        aim = LatencyAim(engine, setup, table_dir, args.warmup, args.repeats) if kind == "latency" else None
        row = {"model": model_name, "engine": engine, "target": f"{target:g}x {kind}", "round_to": round_to}
        started = time.perf_counter()
        try:
            outcome = prune_to_speedup(model, create_criterion("MagnitudeL2"), example, config, latency=aim)
        except UserError as error:
            rows.append({**row, "error": str(error)})
            print(json.dumps(rows[-1]), flush=True)
            continue
        measured = measure_engines(base, model, SHAPE, [engine], setup, args.warmup, args.repeats)
        figure = measured[f"{engine}@{setup.batch_size}"]
        rows.append(
            {
                **row,
                "macs_speedup": round(outcome.achieved_speedup, 3),
                "predicted": None
                if outcome.predicted_latency_speedup is None
                else round(outcome.predicted_latency_speedup, 3),
                "measured": round(figure.speedup, 3),
                "interval": [round(figure.low, 3), round(figure.high, 3)],
                "measured_over_macs": round(figure.speedup / outcome.achieved_speedup, 3),
                "off_target": round(figure.speedup / target - 1, 3) if kind == "latency" else None,
                "device": figure.pruned.device,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | engine | target | round_to | MACs x | predicted x | measured x [95%] | measured/MACs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {row['model']} | {row['engine']} | {row['target']} | {row['round_to']} | {row['error']} ||||"
            )
            continue
        low, high = row["interval"]
        lines.append(
            f"| {row['model']} | {row['engine']} | {row['target']} | {row['round_to']} | {row['macs_speedup']:.2f} | "
            f"{'-' if row['predicted'] is None else format(row['predicted'], '.2f')} | "
            f"{row['measured']:.2f} [{low:.2f}-{high:.2f}] | {row['measured_over_macs']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18_cifar", "resnet50_cifar", "vgg19_cifar"])
    parser.add_argument("--engines", nargs="+", default=["eager", "onnxruntime"])
    parser.add_argument("--kinds", nargs="+", default=["macs", "latency"], help="which targets to run")
    parser.add_argument("--round-to", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--channels-last", action="store_true", help="eager: time in channels_last (oneDNN's layout)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="eager only: bf16 weights")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--table-dir", type=Path, default=None, help="latency tables (default: a fresh temporary one)")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/latency_vs_macs.json"))
    args = parser.parse_args()
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("pruningbench.latency.target").setLevel(logging.INFO)  # each aim, prediction and measurement
    setup = TimingSetup(
        resolve_device(args.device), args.batch, args.precision, channels_last=args.channels_last, threads=args.threads
    )
    table_dir = args.table_dir or Path(tempfile.mkdtemp(prefix="latency-tables-"))
    rows = [
        row for name in args.models for engine in args.engines for row in rows_for(name, engine, setup, args, table_dir)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"setup": vars(args) | {"out": str(args.out), "table_dir": str(table_dir)}, "rows": rows},
            indent=1,
            default=str,
        )
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
