"""What the cluster features cost: Ray's start-up, the Ray executor's overhead per run, torchrun's launch time.

- torchrun: a training stage of 0 epochs run with ``nproc: 2`` (launch, process-group set-up, loading the model and
  the data, tear-down), against the same stage in-process; median of ``--repeats``.
- Ray: the same ``--runs`` quick-start runs (short schedules, all cores' threads) inline in this process and as Ray
  tasks on a local Ray started for it with ``resources.cpus`` = all cores (one task at a time, like inline); the
  overhead per run is (Ray suite wall time - inline wall time) / runs, after Ray's start-up, reported apart.

Run it where nothing else competes for the cores. On a shared machine, run it in a network namespace with only
loopback (Ray advertises the machine's address): ``unshare -n sh -c 'ip link set lo up; python benchmarks/...'``.

    python benchmarks/cluster_overhead.py [--runs 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pruningbench.config import load_preset
from pruningbench.models import create_model
from pruningbench.pipeline import run_experiment
from pruningbench.pipeline.workload import workload_for
from pruningbench.store import ResultStore

TINY = {"base_training.epochs": 1, "finetune.epochs": 1, "sparsify.epochs": 1, "latency.repeats": 5}


def torchrun_launch(repeats: int) -> tuple[float, float]:
    """Median seconds of a 0-epoch training stage with nproc 2, and in-process."""
    config = load_preset("quickstart", {"results_dir": tempfile.mkdtemp()})
    workload = workload_for(config, torch.device("cpu"))
    model = create_model(config.task.model, workload.num_classes, workload.input_shape[0])
    timings: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for nproc in (1, 2):
            recipe = config.finetune.model_copy(update={"epochs": 0, "nproc": nproc})
            started = time.perf_counter()
            workload.train(model, recipe, seed=0, desc="launch")
            timings[nproc].append(time.perf_counter() - started)
    return statistics.median(timings[2]), statistics.median(timings[1])


def ray_overhead(runs: int) -> dict[str, float]:
    import ray

    from pruningbench.execution.cluster import run_on_ray
    from rich.console import Console

    methods = ["MagnitudeL1", "MagnitudeL2", "LAMP", "FPGM", "Random", "BNScale"][:runs]
    cores = os.cpu_count() or 1

    def configs(folder: Path) -> list:
        return [
            load_preset("quickstart", {**TINY, "method.importance": name, "results_dir": str(folder),
                                       "resources.cpus": cores, "resources.memory_gb": None})
            for name in methods
        ]

    inline_dir = Path(tempfile.mkdtemp())  # all cores' threads, as a Ray task given all cores gets
    started = time.perf_counter()
    for config in configs(inline_dir):
        run_experiment(config, ResultStore.in_dir(inline_dir))
    inline = time.perf_counter() - started

    ray_dir = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, logging_level="warning", log_to_driver=False)
    startup = time.perf_counter() - started
    ray.shutdown()
    os.environ.pop("RAY_ADDRESS", None)  # run_on_ray starts a local Ray again (its start-up is subtracted)
    started = time.perf_counter()
    outcome = run_on_ray(configs(ray_dir), ResultStore.in_dir(ray_dir), ray_dir, Console(quiet=True))
    on_ray = time.perf_counter() - started
    assert not outcome.failures, outcome.failures
    return {"runs": runs, "inline_s": inline, "ray_s": on_ray, "ray_startup_s": startup,
            "overhead_per_run_s": (on_ray - startup - inline) / runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    launch, alone = torchrun_launch(args.repeats)
    print(f"torchrun, 2 gloo processes: a 0-epoch stage takes {launch:.1f} s (in-process: {alone:.2f} s): "
          f"launch cost {launch - alone:.1f} s (median of {args.repeats})")
    figures = ray_overhead(args.runs)
    print(f"Ray: start-up {figures['ray_startup_s']:.1f} s; {figures['runs']} runs inline {figures['inline_s']:.1f} s, "
          f"on Ray {figures['ray_s']:.1f} s: overhead {figures['overhead_per_run_s']:.1f} s per run")


if __name__ == "__main__":
    main()
